/// The shared state behind /state/*, without HTTP: what each strategy counts, that the
/// exact ones stay exact under threads, and that transfers keep the total.

#include "handlers/shared_state.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace cvp {
namespace {

using namespace std::chrono_literals;

TEST(shared_state, strategy_and_order_names_round_trip)
{
    for (auto s : counter_strategies)
        EXPECT_EQ(parse_counter_strategy(to_string(s)), s);
    EXPECT_FALSE(parse_counter_strategy("Split").has_value());
    EXPECT_FALSE(parse_counter_strategy("").has_value());
    EXPECT_EQ(parse_lock_order("naive"), lock_order::naive);
    EXPECT_EQ(parse_lock_order("ordered"), lock_order::ordered);
    EXPECT_FALSE(parse_lock_order("scoped").has_value());
}

TEST(shared_state, one_thread_loses_nothing_by_any_strategy)
{
    shared_counters c;
    for (auto s : {counter_strategy::split, counter_strategy::mutex, counter_strategy::atomic, counter_strategy::sharded}) {
        SCOPED_TRACE(to_string(s));
        auto const [before, after] = c.increment(s, 1000);
        EXPECT_EQ(before, 0u);
        EXPECT_EQ(after, 1000u);
        c.count_asked(s, 1000);
        EXPECT_EQ(c.read(s).value, 1000u);
        EXPECT_EQ(c.read(s).lost(), 0u);
    }
}

TEST(shared_state, await_without_overlap_counts_every_write)
{
    shared_counters c;
    for (int i = 0; i < 3; ++i)
        c.await_write(c.await_read());
    c.count_asked(counter_strategy::await, 3);
    EXPECT_EQ(c.read(counter_strategy::await).value, 3u);
    EXPECT_THROW(c.increment(counter_strategy::await, 1), std::logic_error);
}

TEST(shared_state, two_awaits_that_read_before_either_writes_lose_one)
{
    shared_counters c;
    auto const first = c.await_read();
    auto const second = c.await_read();
    c.await_write(first);
    c.await_write(second);
    c.count_asked(counter_strategy::await, 2);
    EXPECT_EQ(c.read(counter_strategy::await).value, 1u);
    EXPECT_EQ(c.read(counter_strategy::await).lost(), 1u);
}

TEST(shared_state, mutex_atomic_and_sharded_stay_exact_under_threads)
{
    shared_counters c;
    constexpr int threads = 4;
    constexpr std::uint64_t n = 50'000;
    for (auto s : {counter_strategy::mutex, counter_strategy::atomic, counter_strategy::sharded}) {
        SCOPED_TRACE(to_string(s));
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&c, s] {
                c.increment(s, n);
                c.count_asked(s, n);
            });
        workers.clear();
        EXPECT_EQ(c.read(s).value, threads * n);
        EXPECT_EQ(c.read(s).increments, threads * n);
        EXPECT_EQ(c.read(s).lost(), 0u);
    }
}

TEST(shared_state, sharded_slots_sit_on_cache_lines_of_their_own)
{
    EXPECT_GE(shared_counters::slot_bytes, 64u);
    EXPECT_GE(shared_counters::slots, 2u);
}

TEST(shared_state, reset_zeroes_values_and_increments)
{
    shared_counters c;
    for (auto s : {counter_strategy::split, counter_strategy::mutex, counter_strategy::atomic, counter_strategy::sharded}) {
        c.increment(s, 7);
        c.count_asked(s, 7);
    }
    c.await_write(41);
    c.reset();
    for (auto s : counter_strategies) {
        EXPECT_EQ(c.read(s).value, 0u) << to_string(s);
        EXPECT_EQ(c.read(s).increments, 0u) << to_string(s);
    }
}

TEST(shared_state, a_transfer_moves_the_amount_and_keeps_the_total)
{
    shared_accounts a;
    auto const out = a.transfer(lock_order::naive, 0, 5, 250, 0us, 50ms);
    EXPECT_TRUE(out.moved);
    EXPECT_EQ(out.from_balance, shared_accounts::opening_balance - 250);
    EXPECT_EQ(out.to_balance, shared_accounts::opening_balance + 250);
    auto const r = a.read();
    EXPECT_EQ(r.total, r.expected_total);
    EXPECT_EQ(r.expected_total, shared_accounts::opening_balance * shared_accounts::count);
    EXPECT_EQ(r.naive_transfers, 1u);
    EXPECT_EQ(r.deadlocks_detected, 0u);
}

TEST(shared_state, a_transfer_needs_two_different_accounts_in_range)
{
    shared_accounts a;
    EXPECT_THROW(a.transfer(lock_order::ordered, 1, 1, 1, 0us, 1ms), std::invalid_argument);
    EXPECT_THROW(a.transfer(lock_order::ordered, -1, 1, 1, 0us, 1ms), std::invalid_argument);
    EXPECT_THROW(a.transfer(lock_order::naive, 0, shared_accounts::count, 1, 0us, 1ms), std::invalid_argument);
}

TEST(shared_state, opposite_ordered_transfers_in_threads_never_fail_and_keep_the_total)
{
    shared_accounts a;
    constexpr int rounds = 2000;
    std::vector<std::jthread> workers;
    for (int t = 0; t < 4; ++t)
        workers.emplace_back([&a, t] {
            for (int i = 0; i < rounds; ++i) {
                auto const out = t % 2 ? a.transfer(lock_order::ordered, 6, 7, 2, 0us, 1ms) : a.transfer(lock_order::ordered, 7, 6, 1, 0us, 1ms);
                EXPECT_TRUE(out.moved);
            }
        });
    workers.clear();
    auto const r = a.read();
    EXPECT_EQ(r.ordered_transfers, 4u * rounds);
    EXPECT_EQ(r.deadlocks_detected, 0u);
    EXPECT_EQ(r.total, r.expected_total);
    EXPECT_EQ(r.balances[6], shared_accounts::opening_balance - 2 * 2 * rounds + 2 * rounds);
}

TEST(shared_state, reset_restores_the_opening_balances)
{
    shared_accounts a;
    a.transfer(lock_order::ordered, 2, 3, 99, 0us, 1ms);
    a.reset();
    auto const r = a.read();
    for (auto b : r.balances)
        EXPECT_EQ(b, shared_accounts::opening_balance);
    EXPECT_EQ(r.ordered_transfers, 0u);
}

} // namespace
} // namespace cvp
