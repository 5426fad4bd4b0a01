#include "server/models/lag_monitor.hpp"

#include "common/clock.hpp"

#include <boost/asio/post.hpp>

namespace cvp {

lag_monitor::lag_monitor(asio::io_context& ctx, loop_health& health, std::chrono::milliseconds interval)
    : timer_(ctx)
    , health_(health)
    , interval_(interval)
{}

void lag_monitor::start()
{
    asio::post(timer_.get_executor(), [this] {
        health_.mark_started(monotonic_ns());
        arm();
    });
}

void lag_monitor::arm()
{
    // The next deadline counts from now, so that one late tick does not make the next ones late too.
    timer_.expires_after(interval_);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec)
            return;
        // How late the loop got round to the timer: the time a request arriving then would have waited.
        auto const now = std::chrono::steady_clock::now();
        auto const late = std::chrono::duration_cast<std::chrono::nanoseconds>(now - timer_.expiry()).count();
        health_.record_lag(late, monotonic_ns());
        arm();
    });
}

} // namespace cvp
