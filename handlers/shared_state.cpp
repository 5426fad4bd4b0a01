#include "handlers/shared_state.hpp"

#include "common/clock.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace cvp {

namespace {

/// The index of `s` in counter_strategies.
std::size_t index_of(counter_strategy s) noexcept
{
    return static_cast<std::size_t>(s);
}

/// This thread's sharded slot: handed out in turn the first time a thread asks.
std::size_t my_slot() noexcept
{
    static std::atomic<std::size_t> next{0};
    thread_local std::size_t const mine = next.fetch_add(1, std::memory_order_relaxed) % shared_counters::slots;
    return mine;
}

/// Keeps the core busy for `d`: work done while holding a lock.
void spin_for(std::chrono::microseconds d) noexcept
{
    auto const until = monotonic_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    while (monotonic_ns() < until) {
    }
}

} // namespace

std::string_view to_string(counter_strategy s) noexcept
{
    switch (s) {
    case counter_strategy::split: return "split";
    case counter_strategy::mutex: return "mutex";
    case counter_strategy::atomic: return "atomic";
    case counter_strategy::sharded: return "sharded";
    case counter_strategy::await: return "await";
    }
    return "?";
}

std::optional<counter_strategy> parse_counter_strategy(std::string_view name) noexcept
{
    for (auto s : counter_strategies)
        if (to_string(s) == name)
            return s;
    return std::nullopt;
}

std::pair<std::uint64_t, std::uint64_t> shared_counters::increment(counter_strategy s, std::uint64_t n)
{
    auto const before = value(s);
    switch (s) {
    case counter_strategy::split:
        // Read, then write what was read plus one: another thread's update between the two is lost.
        for (std::uint64_t i = 0; i < n; ++i)
            split_.store(split_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        break;
    case counter_strategy::mutex:
        // One lock per increment, as a handler that guards a shared field would take it.
        for (std::uint64_t i = 0; i < n; ++i) {
            std::lock_guard lock{mutex_};
            ++locked_;
        }
        break;
    case counter_strategy::atomic:
        // One read-modify-write the hardware makes indivisible; the cache line moves between cores.
        for (std::uint64_t i = 0; i < n; ++i)
            atomic_.fetch_add(1, std::memory_order_relaxed);
        break;
    case counter_strategy::sharded: {
        // This thread's own line: no other core writes it, so it stays in this core's cache.
        auto& mine = sharded_[my_slot()].value;
        for (std::uint64_t i = 0; i < n; ++i)
            mine.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    case counter_strategy::await:
        throw std::logic_error{"the await strategy's increments are the handler's: await_read, a wait, await_write"};
    }
    return {before, value(s)};
}

std::uint64_t shared_counters::await_read() const noexcept
{
    return await_.load(std::memory_order_relaxed);
}

void shared_counters::await_write(std::uint64_t value_read) noexcept
{
    await_.store(value_read + 1, std::memory_order_relaxed);
}

void shared_counters::count_asked(counter_strategy s, std::uint64_t n) noexcept
{
    asked_[index_of(s)].fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t shared_counters::value(counter_strategy s) const
{
    switch (s) {
    case counter_strategy::split: return split_.load(std::memory_order_relaxed);
    case counter_strategy::mutex: {
        std::lock_guard lock{mutex_};
        return locked_;
    }
    case counter_strategy::atomic: return atomic_.load(std::memory_order_relaxed);
    case counter_strategy::sharded: {
        // The sum of every slot: exact once the writers are done, a moment's view while they run.
        std::uint64_t sum = 0;
        for (auto const& shard : sharded_)
            sum += shard.value.load(std::memory_order_relaxed);
        return sum;
    }
    case counter_strategy::await: return await_.load(std::memory_order_relaxed);
    }
    return 0;
}

counter_reading shared_counters::read(counter_strategy s) const
{
    return counter_reading{value(s), asked_[index_of(s)].load(std::memory_order_relaxed)};
}

void shared_counters::reset()
{
    split_.store(0, std::memory_order_relaxed);
    {
        std::lock_guard lock{mutex_};
        locked_ = 0;
    }
    atomic_.store(0, std::memory_order_relaxed);
    for (auto& s : sharded_)
        s.value.store(0, std::memory_order_relaxed);
    await_.store(0, std::memory_order_relaxed);
    for (auto& a : asked_)
        a.store(0, std::memory_order_relaxed);
}

std::string_view to_string(lock_order o) noexcept
{
    return o == lock_order::naive ? "naive" : "ordered";
}

std::optional<lock_order> parse_lock_order(std::string_view name) noexcept
{
    if (name == "naive")
        return lock_order::naive;
    if (name == "ordered")
        return lock_order::ordered;
    return std::nullopt;
}

transfer_outcome shared_accounts::transfer(lock_order order, int from, int to, std::int64_t amount, std::chrono::microseconds hold,
                                           std::chrono::milliseconds timeout)
{
    if (from < 0 || from >= count || to < 0 || to >= count || from == to)
        throw std::invalid_argument{"a transfer needs two different accounts in [0, count)"};
    auto& a = accounts_[static_cast<std::size_t>(from)];
    auto& b = accounts_[static_cast<std::size_t>(to)];

    if (order == lock_order::ordered) {
        // Both locks at once, the lower account first: no two transfers can each hold what the other waits for.
        auto& first = from < to ? a : b;
        auto& second = from < to ? b : a;
        std::scoped_lock both{first.lock, second.lock};
        spin_for(hold);
        a.balance -= amount;
        b.balance += amount;
        ordered_.fetch_add(1, std::memory_order_relaxed);
        return {true, a.balance, b.balance};
    }

    // naive: `from` first, some work while holding it, then `to`.
    std::unique_lock first{a.lock};
    spin_for(hold);
    // Against the system clock: libstdc++ then waits in pthread_mutex_timedlock, which ThreadSanitizer
    // follows; try_lock_for's steady clock waits in pthread_mutex_clocklock, which GCC 12's does not.
    std::unique_lock second{b.lock, std::defer_lock};
    if (!second.try_lock_until(std::chrono::system_clock::now() + timeout)) {
        // Whoever holds `to` is most likely waiting for `from`: give it up, count the deadlock, move nothing.
        deadlocks_.fetch_add(1, std::memory_order_relaxed);
        return {false, a.balance, b.balance};
    }
    a.balance -= amount;
    b.balance += amount;
    naive_.fetch_add(1, std::memory_order_relaxed);
    return {true, a.balance, b.balance};
}

accounts_reading shared_accounts::read() const
{
    accounts_reading r;
    // Every lock, in account order (the order `ordered` uses, so this never deadlocks with it).
    std::array<std::unique_lock<std::timed_mutex>, count> held;
    for (std::size_t i = 0; i < accounts_.size(); ++i)
        held[i] = std::unique_lock{accounts_[i].lock};
    for (std::size_t i = 0; i < accounts_.size(); ++i) {
        r.balances[i] = accounts_[i].balance;
        r.total += accounts_[i].balance;
    }
    r.expected_total = opening_balance * count;
    r.naive_transfers = naive_.load(std::memory_order_relaxed);
    r.ordered_transfers = ordered_.load(std::memory_order_relaxed);
    r.deadlocks_detected = deadlocks_.load(std::memory_order_relaxed);
    return r;
}

void shared_accounts::reset()
{
    for (auto& acc : accounts_) {
        std::lock_guard lock{acc.lock};
        acc.balance = opening_balance;
    }
    naive_.store(0, std::memory_order_relaxed);
    ordered_.store(0, std::memory_order_relaxed);
    deadlocks_.store(0, std::memory_order_relaxed);
}

shared_state& process_state()
{
    static shared_state state;
    return state;
}

} // namespace cvp
