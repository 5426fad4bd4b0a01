#include "server/downstream_async.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

namespace cvp {

void async_transport::waiter::wake()
{
    // The timer belongs to the caller's executor: cancel it there, never from this thread.
    asio::post(timer.get_executor(), [self = shared_from_this()] { self->timer.cancel(); });
}

asio::awaitable<std::shared_ptr<async_transport::waiter>> async_transport::make_waiter()
{
    co_return std::make_shared<waiter>(co_await asio::this_coro::executor);
}

asio::awaitable<void> async_transport::wait(waiter& w, std::chrono::steady_clock::time_point deadline)
{
    // Woken by the cancel wake() posts, or by the deadline: the pool says which (settle).
    w.timer.expires_at(deadline);
    [[maybe_unused]] auto [ec] = co_await w.timer.async_wait(use_tuple);
}

asio::awaitable<error_code> async_transport::open(std::unique_ptr<connection>& conn)
{
    conn = std::make_unique<connection>(io_);
    conn->stream.expires_after(target_.connect_timeout);
    auto [ec] = co_await conn->stream.async_connect(target_.endpoint, use_tuple);
    if (!ec)
        conn->stream.socket().set_option(tcp::no_delay{true}, ec);
    co_return ec;
}

asio::awaitable<error_code> async_transport::exchange(connection& conn, std::string const& request, downstream_parser& parser,
                                                      std::chrono::steady_clock::time_point deadline)
{
    // One deadline for the request and the whole answer.
    conn.stream.expires_at(deadline);
    auto [wec, written] = co_await asio::async_write(conn.stream, asio::buffer(request), use_tuple);
    if (wec)
        co_return wec;
    auto [rec, read] = co_await http::async_read(conn.stream, conn.buffer, parser, use_tuple);
    conn.stream.expires_never();
    co_return rec;
}

} // namespace cvp
