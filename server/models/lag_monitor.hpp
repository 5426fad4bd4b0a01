#pragma once

/// A periodic timer on an event loop that measures how late it fires: the loop's lag,
/// what every request that arrives then waits before the loop can look at it. Node's
/// monitorEventLoopDelay does the same. Each tick records into the loop's loop_health and
/// stamps its progress, which the stall watchdog reads.

#include "server/asio.hpp"
#include "server/loop_health.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>

namespace cvp {

class lag_monitor
{
public:
    /// Ticks every `interval` on `ctx`, recording into `health`, once start() is called.
    lag_monitor(asio::io_context& ctx, loop_health& health, std::chrono::milliseconds interval);

    /// Arms the first tick; the loop's thread will run it.
    void start();

private:
    /// Sets the next deadline one interval from now, and waits for it.
    void arm();

    asio::steady_timer timer_;
    loop_health& health_;
    std::chrono::milliseconds interval_;
};

} // namespace cvp
