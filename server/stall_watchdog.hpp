#pragma once

/// Seastar's reactor stall detector, for Asio loops: a thread of its own reads each loop's
/// progress stamp (its lag timer's last tick), because a stuck loop cannot report on
/// itself. A loop whose next tick is overdue by more than the threshold has not come back
/// to its event wait: it is reported once per stall, in the log with what its threads
/// were serving, and counted in /stats and /metrics.

#include "server/stats.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace cvp {

class stall_watchdog
{
public:
    /// Watches every loop `stats` lists, whose timers tick every `interval`.
    stall_watchdog(stats_registry& stats, std::chrono::milliseconds threshold, std::chrono::milliseconds interval);
    ~stall_watchdog();
    stall_watchdog(stall_watchdog const&) = delete;
    stall_watchdog& operator=(stall_watchdog const&) = delete;

    /// Starts the watching thread.
    void start();
    /// Stops and joins it; safe to call twice, and from any thread but its own.
    void stop() noexcept;

    /// One look at every loop at `now_ns`: reports the stalls not yet reported. The
    /// thread calls it; tests may too.
    void check(std::int64_t now_ns);

private:
    stats_registry& stats_;
    std::chrono::milliseconds threshold_;
    std::chrono::milliseconds interval_;
    /// Per loop, in the registry's order: the tick of the stall last reported.
    std::vector<std::int64_t> reported_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false; // guarded by mutex_
    std::thread thread_;
};

} // namespace cvp
