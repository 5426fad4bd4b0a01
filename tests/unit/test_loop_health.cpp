/// A loop's lag figures and the stall watchdog, driven by hand: ticks and clocks are
/// given, not waited for.

#include "server/loop_health.hpp"
#include "server/stall_watchdog.hpp"
#include "server/stats.hpp"

#include <gtest/gtest.h>

namespace cvp {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t ms = 1'000'000;

TEST(loop_health, lag_figures_since_start_and_lately)
{
    loop_health h{"loop 0", {0}, {}};
    EXPECT_EQ(h.since_start().count, 0u);
    EXPECT_EQ(h.last_tick_ns(), 0);
    for (int i = 1; i <= 100; ++i)
        h.record_lag(i * 1000, i * 10 * ms); // 1..100 µs
    auto const all = h.since_start();
    EXPECT_EQ(all.count, 100u);
    EXPECT_EQ(all.min_us, 1u);
    EXPECT_EQ(all.p50_us, 50u);
    EXPECT_EQ(all.p99_us, 99u);
    EXPECT_EQ(all.max_us, 100u);
    EXPECT_DOUBLE_EQ(all.mean_us, 50.5);
    EXPECT_EQ(h.last_tick_ns(), 1000 * ms);
    EXPECT_EQ(h.recent().p50_us, 50u);
}

TEST(loop_health, the_recent_figures_forget_what_the_ring_no_longer_holds)
{
    loop_health h{"loop 0", {0}, {}};
    h.record_lag(300 * ms, 1 * ms); // one 300-ms stall, then a ring's worth of quick ticks
    for (std::size_t i = 0; i < loop_health::recent_samples; ++i)
        h.record_lag(20'000, static_cast<std::int64_t>(i + 2) * ms);
    EXPECT_EQ(h.since_start().max_us, 300'000u);
    EXPECT_EQ(h.recent().max_us, 20u);
    EXPECT_EQ(h.recent().count, loop_health::recent_samples);
}

TEST(loop_health, a_negative_lag_counts_as_none)
{
    loop_health h{"loop 0", {0}, {}};
    h.record_lag(-5, 1);
    EXPECT_EQ(h.since_start().max_us, 0u);
}

class watchdog_test : public ::testing::Test
{
protected:
    stats_registry stats_;
    int worker_ = stats_.add(worker_kind::loop);
    loop_health& loop_ = stats_.add_loop("loop 0", {worker_});
    stall_watchdog dog_{stats_, 100ms, 10ms};
};

TEST_F(watchdog_test, a_loop_not_yet_ticking_is_starting_not_stalled)
{
    dog_.check(10'000 * ms);
    EXPECT_EQ(loop_.stalls(), 0u);
}

TEST_F(watchdog_test, a_loop_whose_tick_is_overdue_past_the_threshold_is_reported_once)
{
    loop_.record_lag(0, 1000 * ms);
    auto const token = stats_.counters(worker_).serving.set("GET", "/io/block?ms=300");

    // Due at 1010 ms: 100 ms past that is still within the threshold.
    dog_.check(1110 * ms);
    EXPECT_EQ(loop_.stalls(), 0u);

    // Past it: one stall, naming what the worker serves; looking again adds none.
    dog_.check(1111 * ms);
    dog_.check(1400 * ms);
    EXPECT_EQ(loop_.stalls(), 1u);
    auto const last = loop_.last_stall();
    EXPECT_EQ(last.serving, "GET /io/block?ms=300");
    EXPECT_EQ(last.stuck_ns, 101 * ms);

    // The loop ticks again, then stalls again: a second stall.
    stats_.counters(worker_).serving.clear(token);
    loop_.record_lag(390 * ms, 1400 * ms);
    dog_.check(1405 * ms);
    EXPECT_EQ(loop_.stalls(), 1u);
    dog_.check(1600 * ms);
    EXPECT_EQ(loop_.stalls(), 2u);
    EXPECT_EQ(loop_.last_stall().serving, "");
}

TEST(serving_label, a_stale_token_does_not_clear_a_newer_label)
{
    serving_label label;
    auto const first = label.set("GET", "/a");
    auto const second = label.set("GET", "/b");
    label.clear(first);
    EXPECT_EQ(label.get(), "GET /b");
    label.clear(second);
    EXPECT_EQ(label.get(), "");
}

} // namespace
} // namespace cvp
