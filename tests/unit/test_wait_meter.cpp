/// A worker's wait meter driven by hand, a loop's utilization from its ticks, and the
/// linker's wrap of Asio's waits, seen through a real io_context.

#include "common/clock.hpp"
#include "server/loop_health.hpp"
#include "server/wait_meter.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <thread>

namespace cvp {
namespace {

constexpr std::int64_t ms = 1'000'000;

/// `x` ms into a test's made-up clock; the meter takes a stamp of 0 for none, and
/// CLOCK_MONOTONIC never reads 0 in a running system.
constexpr std::int64_t at(std::int64_t x)
{
    return 10'000 * ms + x * ms;
}

TEST(wait_meter, finished_and_running_waits_and_lives_add_up)
{
    wait_meter m;
    m.enter(at(0));
    m.begin_wait(at(10));
    m.end_wait(at(30));
    auto r = m.read(at(100));
    EXPECT_EQ(r.lived_ns, 100 * ms);
    EXPECT_EQ(r.waited_ns, 20 * ms);
    EXPECT_EQ(r.busy_ns(), 80 * ms);

    // A wait under way counts up to the moment of reading.
    m.begin_wait(at(100));
    r = m.read(at(150));
    EXPECT_EQ(r.waited_ns, 70 * ms);
    EXPECT_EQ(r.busy_ns(), 80 * ms);
    m.end_wait(at(150));

    // The thread ends; the next one to take the worker adds its own life.
    m.leave(at(200));
    EXPECT_EQ(m.read(at(1000)).lived_ns, 200 * ms);
    m.enter(at(1000));
    r = m.read(at(1100));
    EXPECT_EQ(r.lived_ns, 300 * ms);
    EXPECT_EQ(r.busy_ns(), 300 * ms - 70 * ms);
}

TEST(wait_meter, an_end_without_a_begin_and_a_leave_without_an_enter_change_nothing)
{
    wait_meter m;
    m.end_wait(at(5));
    m.leave(at(5));
    auto const r = m.read(at(10));
    EXPECT_EQ(r.lived_ns, 0);
    EXPECT_EQ(r.waited_ns, 0);
    EXPECT_EQ(r.busy_ns(), 0);
}

TEST(wait_meter, the_scope_times_a_wait_only_on_a_thread_with_a_meter)
{
    wait_meter m;
    m.enter(at(0));
    {
        event_wait_scope nobody; // no meter on this thread yet
    }
    EXPECT_EQ(m.read(at(1)).waited_ns, 0);
    set_current_wait_meter(&m);
    {
        event_wait_scope waiting;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    set_current_wait_meter(nullptr);
    auto const r = m.read(monotonic_ns());
    EXPECT_GE(r.waited_ns, 2 * ms);
}

TEST(loop_health, utilization_since_start_and_over_the_kept_ticks)
{
    wait_meter m;
    loop_health h{"loop 0", {0}, {&m}};
    m.enter(at(0));
    // Idle for the first 50 ms, a tick then; busy for the next 50.
    m.begin_wait(at(0));
    m.end_wait(at(50));
    h.record_lag(0, at(50));
    EXPECT_DOUBLE_EQ(h.utilization_since_start(at(100)), 0.5);
    EXPECT_DOUBLE_EQ(h.utilization_recent(at(100)), 1.0);

    // A ring's worth of ticks later, the oldest kept is the one at 150 ms: idle since.
    m.begin_wait(at(100));
    for (std::size_t i = 0; i < loop_health::recent_samples; ++i)
        h.record_lag(0, at(150 + static_cast<std::int64_t>(i)));
    auto const now = at(150 + static_cast<std::int64_t>(loop_health::recent_samples));
    EXPECT_DOUBLE_EQ(h.utilization_recent(now), 0.0);
    EXPECT_NEAR(h.utilization_since_start(now), 50.0 / static_cast<double>((now - at(0)) / ms), 1e-9);
}

TEST(loop_health, a_shared_loop_sums_its_threads)
{
    wait_meter a;
    wait_meter b;
    loop_health h{"shared loop", {0, 1}, {&a, &b}};
    a.enter(at(0));
    b.enter(at(0));
    b.begin_wait(at(0)); // one thread busy, the other waiting throughout
    EXPECT_DOUBLE_EQ(h.utilization_since_start(at(100)), 0.5);
    auto const t = h.threads_time(at(100));
    EXPECT_EQ(t.lived_ns, 200 * ms);
    EXPECT_EQ(t.waited_ns, 100 * ms);
}

/// Runs `ctx` on a thread that counts into `meter`, as the server's workers do.
std::thread run_metered(boost::asio::io_context& ctx, wait_meter& meter)
{
    return std::thread([&ctx, &meter] {
        set_current_wait_meter(&meter);
        meter.enter(monotonic_ns());
        ctx.run();
        set_current_wait_meter(nullptr);
    });
}

/// Waits until `done` holds, for at most 30 s.
template <class Done>
bool within_patience(Done done)
{
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (done())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

/// Every meter has counted some waiting, read while the threads wait.
bool all_waited(std::initializer_list<wait_meter const*> meters)
{
    return within_patience([&] {
        auto const now = monotonic_ns();
        for (auto const* m : meters)
            if (m->read(now).waited_ns == 0)
                return false;
        return true;
    });
}

/// Cancels `timer` on its own loop, which then runs out of work and returns.
void cancel_on_its_loop(boost::asio::steady_timer& timer)
{
    boost::asio::post(timer.get_executor(), [&timer] { timer.cancel(); });
}

TEST(event_wait_wrap, a_loop_thread_waiting_in_epoll_wait_counts_as_waiting)
{
    // A timer an hour away: the one thread sits in the reactor's epoll_wait. Without the
    // linker's wrap the meter would stay at 0.
    boost::asio::io_context ctx{1};
    boost::asio::steady_timer timer{ctx, std::chrono::hours(1)};
    timer.async_wait([](boost::system::error_code) {});
    wait_meter m;
    auto t = run_metered(ctx, m);
    EXPECT_TRUE(all_waited({&m}));
    cancel_on_its_loop(timer);
    t.join();
}

TEST(event_wait_wrap, the_second_thread_of_a_shared_loop_waits_on_asios_condition_variable)
{
    // Two threads on one io_context with only that timer: one holds the reactor, the other
    // waits on Asio's condition variable (pthread_cond_wait). Both count as waiting.
    boost::asio::io_context ctx{2};
    boost::asio::steady_timer timer{ctx, std::chrono::hours(1)};
    timer.async_wait([](boost::system::error_code) {});
    wait_meter a;
    wait_meter b;
    auto ta = run_metered(ctx, a);
    auto tb = run_metered(ctx, b);
    EXPECT_TRUE(all_waited({&a, &b}));
    cancel_on_its_loop(timer);
    ta.join();
    tb.join();
}

} // namespace
} // namespace cvp
