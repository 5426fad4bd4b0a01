#include "server/downstream_blocking.hpp"

#include "server/poll_ready.hpp"

#include <boost/beast/core/error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cvp {

blocking_http_connection::~blocking_http_connection()
{
    if (fd >= 0)
        ::close(fd);
}

asio::awaitable<error_code> blocking_transport::open(std::unique_ptr<connection>& conn)
{
    conn = std::make_unique<connection>();
    auto const* addr = target_.endpoint.data();
    conn->fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (conn->fd < 0)
        co_return last_errno();

    // Connect without blocking, then wait for it within the connect timeout.
    auto const deadline = std::chrono::steady_clock::now() + target_.connect_timeout;
    if (::connect(conn->fd, addr, static_cast<socklen_t>(target_.endpoint.size())) < 0) {
        if (errno != EINPROGRESS)
            co_return last_errno();
        if (auto ec = poll_ready(conn->fd, POLLOUT, deadline))
            co_return ec;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0)
            co_return error_code(err, boost::system::system_category());
    }
    int one = 1;
    ::setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    co_return error_code{};
}

asio::awaitable<error_code> blocking_transport::exchange(connection& conn, std::string const& request, downstream_parser& parser,
                                                         std::chrono::steady_clock::time_point deadline)
{
    // The request, whole.
    std::size_t sent = 0;
    while (sent < request.size()) {
        auto const n = ::send(conn.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno != EAGAIN && errno != EINTR)
            co_return last_errno();
        if (auto ec = poll_ready(conn.fd, POLLOUT, deadline))
            co_return ec;
    }

    // The answer: parse what the buffer holds, read more while the parser needs it.
    while (!parser.is_done()) {
        if (conn.buffer.size() > 0) {
            error_code ec;
            auto const used = parser.put(conn.buffer.data(), ec);
            conn.buffer.consume(used);
            if (ec && ec != http::error::need_more)
                co_return ec;
            if (parser.is_done())
                break;
            if (used > 0 && !ec)
                continue;
        }
        if (auto ec = poll_ready(conn.fd, POLLIN, deadline))
            co_return ec;
        auto space = conn.buffer.prepare(16 * 1024);
        auto const n = ::recv(conn.fd, space.data(), space.size(), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            co_return last_errno();
        }
        if (n == 0) {
            // The downstream closed: before any byte, as Beast's reads say it; else the
            // parser decides whether the answer was whole (a body that runs to the close).
            if (!parser.got_some())
                co_return http::error::end_of_stream;
            error_code ec;
            parser.put_eof(ec);
            co_return ec;
        }
        conn.buffer.commit(static_cast<std::size_t>(n));
    }
    co_return error_code{};
}

} // namespace cvp
