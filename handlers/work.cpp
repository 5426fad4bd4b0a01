#include "handlers/work.hpp"

#include "common/clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cvp {

boost::asio::awaitable<wait_record> work_runner::wait(std::chrono::milliseconds duration)
{
    namespace asio = boost::asio;
    asio::steady_timer timer{co_await asio::this_coro::executor, duration};
    wait_record w;
    w.start_ns = monotonic_ns();
    // The error is ignored: a timer here is only ever cancelled by shutdown.
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    w.end_ns = monotonic_ns();
    co_return w;
}

} // namespace cvp
