#include "server/database_async.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>

#include <sys/socket.h>

namespace cvp {

async_pg_connection::~async_pg_connection()
{
    if (watch) {
        error_code ec;
        watch->release(ec);
    }
}

asio::awaitable<error_code> async_pg_transport::ready(connection& conn, bool write, std::chrono::steady_clock::time_point deadline)
{
    // Watch the descriptor libpq uses now (TCP or a Unix socket: a generic stream socket).
    int const fd = conn.link.socket();
    if (fd < 0)
        co_return asio::error::bad_descriptor;
    if (!conn.watch || conn.watched != fd) {
        error_code ec;
        if (conn.watch)
            conn.watch->release(ec);
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        conn.watch.emplace(conn.io);
        conn.watch->assign(asio::generic::stream_protocol(addr.ss_family, 0), fd, ec);
        if (ec) {
            conn.watch.reset();
            co_return ec;
        }
        conn.watched = fd;
    }

    // Readable: a peek that completes at once when bytes are already there (a plain wait
    // could miss an edge another thread's reactor run took first). Writable: a wait, which
    // re-arms EPOLLOUT. Either against the deadline.
    asio::steady_timer timer{co_await asio::this_coro::executor, deadline};
    char peeked = 0;
    using asio::experimental::make_parallel_group;
    using asio::experimental::wait_for_one;
    if (write) {
        auto [order, ec, timer_ec] = co_await make_parallel_group(conn.watch->async_wait(asio::socket_base::wait_write, asio::deferred),
                                                                  timer.async_wait(asio::deferred))
                                         .async_wait(wait_for_one(), asio::use_awaitable);
        co_return order[0] == 1 ? error_code{beast::error::timeout} : ec;
    }
    auto [order, ec, n, timer_ec] =
        co_await make_parallel_group(conn.watch->async_receive(asio::buffer(&peeked, 1), asio::socket_base::message_peek, asio::deferred),
                                     timer.async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    if (order[0] == 1)
        co_return beast::error::timeout;
    // A peek of 0 bytes is the peer's close: libpq's next read finds it and says so.
    co_return ec == asio::error::eof ? error_code{} : ec;
}

} // namespace cvp
