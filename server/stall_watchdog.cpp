#include "server/stall_watchdog.hpp"

#include "common/clock.hpp"
#include "server/cpu_limits.hpp"

#include <algorithm>
#include <iostream>
#include <sstream>

namespace cvp {

stall_watchdog::stall_watchdog(stats_registry& stats, std::chrono::milliseconds threshold, std::chrono::milliseconds interval)
    : stats_(stats)
    , threshold_(threshold)
    , interval_(interval)
{}

stall_watchdog::~stall_watchdog()
{
    stop();
}

void stall_watchdog::start()
{
    thread_ = std::thread([this] {
        name_current_thread("cvp-watchdog");
        // Look a few times per threshold, so that a stall is reported soon after it passes it.
        auto const period = std::clamp(threshold_ / 4, std::chrono::milliseconds{5}, std::chrono::milliseconds{50});
        std::unique_lock lock{mutex_};
        while (!wake_.wait_for(lock, period, [this] { return stopping_; })) {
            lock.unlock();
            check(monotonic_ns());
            lock.lock();
        }
    });
}

void stall_watchdog::stop() noexcept
{
    {
        std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
        thread_.join();
}

void stall_watchdog::check(std::int64_t now_ns)
{
    auto const loops = stats_.loops();
    reported_.resize(loops.size(), 0);
    for (std::size_t i = 0; i < loops.size(); ++i) {
        auto& loop = *loops[i];
        // A loop that has not ticked yet is still starting.
        auto const tick = loop.last_tick_ns();
        if (tick == 0 || reported_[i] == tick)
            continue;
        // How long past its next tick the loop is: it has not been back to its event wait since.
        auto const stuck = now_ns - tick - std::chrono::nanoseconds{interval_}.count();
        if (stuck <= std::chrono::nanoseconds{threshold_}.count())
            continue;
        reported_[i] = tick;

        // What its threads are in the middle of, where a handler that may wait said so.
        std::ostringstream serving;
        for (auto id : loop.workers())
            if (auto what = stats_.counters(id).serving.get(); !what.empty())
                serving << (serving.tellp() > 0 ? "; " : "") << what;
        loop.record_stall({now_ns, stuck, serving.str()});
        std::cerr << "cvp-server: stall: " << loop.name() << " has not come back to its event wait for " << stuck / 1'000'000
                  << " ms (threshold " << threshold_.count() << " ms); serving "
                  << (serving.tellp() > 0 ? serving.str() : std::string{"nothing a handler named"}) << '\n';
    }
}

} // namespace cvp
