#pragma once

/// How responsive one event loop is, as production loops report it (Node's
/// monitorEventLoopDelay and eventLoopUtilization, Seastar's stall detector): how late a
/// periodic timer fires on it (lag), the share of its threads' time spent outside their
/// wait for events (utilization), and the stalls a watchdog saw from outside. The loop's
/// own thread records on each tick; /stats and the watchdog read from other threads.

#include "common/latency_histogram.hpp"
#include "handlers/stats_snapshot.hpp"
#include "server/wait_meter.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace cvp {

/// What the watchdog last saw of a stall.
struct stall_record
{
    /// CLOCK_MONOTONIC when the watchdog reported it, and how long the loop had been stuck then.
    std::int64_t seen_ns = 0;
    std::int64_t stuck_ns = 0;
    /// What the loop's threads were serving ("GET /io/block?ms=300"), or empty.
    std::string serving;
};

class loop_health
{
public:
    /// Lag samples kept for the recent figures: at the default 10-ms interval, the last 5 s.
    static constexpr std::size_t recent_samples = 512;

    /// A loop named `name` ("loop 0") whose handlers run on `workers`, run by the threads
    /// whose waits `meters` count (one each; in `pool`, every thread of the shared loop).
    loop_health(std::string name, std::vector<int> workers, std::vector<wait_meter const*> meters);

    std::string const& name() const noexcept { return name_; }
    std::vector<int> const& workers() const noexcept { return workers_; }

    /// The loop's thread, as it first arms the timer at `now_ns`: the watchdog watches it from here.
    void mark_started(std::int64_t now_ns) noexcept { last_tick_ns_.store(now_ns, std::memory_order_release); }

    /// The loop's thread: its timer fired `lag_ns` late, at `now_ns`. The tick also keeps
    /// the threads' lived and waited time then, for the recent utilization.
    void record_lag(std::int64_t lag_ns, std::int64_t now_ns);

    /// Since the loop started, and over the last `recent_samples` ticks.
    lag_snapshot since_start() const;
    lag_snapshot recent() const;
    /// The share of the threads' time spent outside the wait for events (0..1), since they
    /// started and since the oldest tick kept (the last few seconds), up to `now_ns`.
    double utilization_since_start(std::int64_t now_ns) const;
    double utilization_recent(std::int64_t now_ns) const;
    /// The threads' time, summed: lived, and waited, up to `now_ns`.
    wait_meter::reading threads_time(std::int64_t now_ns) const;
    /// The whole histogram since start, for Prometheus' buckets.
    latency_histogram histogram() const;

    /// When the timer last fired, or was first armed (0 before): the loop's progress stamp.
    std::int64_t last_tick_ns() const noexcept { return last_tick_ns_.load(std::memory_order_acquire); }

    /// The watchdog: counts a stall and keeps what it saw.
    void record_stall(stall_record stall);
    std::uint64_t stalls() const noexcept { return stalls_.load(std::memory_order_relaxed); }
    /// The last stall seen, if any (seen_ns 0 when none).
    stall_record last_stall() const;

private:
    /// One tick's figures in the ring.
    struct tick_sample
    {
        std::uint32_t lag_us = 0;
        std::int64_t lived_ns = 0;
        std::int64_t waited_ns = 0;
    };

    std::string name_;
    std::vector<int> workers_;
    std::vector<wait_meter const*> meters_;
    mutable std::mutex mutex_;
    latency_histogram total_;                        // guarded by mutex_
    std::array<tick_sample, recent_samples> ring_{}; // guarded by mutex_
    std::size_t ring_next_ = 0;                      // guarded by mutex_
    std::size_t ring_filled_ = 0;                    // guarded by mutex_
    stall_record last_stall_;                        // guarded by mutex_
    std::atomic<std::int64_t> last_tick_ns_{0};
    std::atomic<std::uint64_t> stalls_{0};
};

} // namespace cvp
