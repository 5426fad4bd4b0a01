#include "server/downstream_async.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

namespace cvp {

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
