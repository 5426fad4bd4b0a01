#pragma once

/// The blocking transport of pooled_downstream, for `threads`: each downstream connection
/// is one non-blocking socket that the calling connection thread waits on in poll(), with
/// no io_context behind it (an io_context's reactor would cost each thread an epoll, an
/// eventfd and a timerfd). One pool serves every connection thread; a call that waits for
/// a connection blocks its thread on a condition variable.

#include "server/downstream_http.hpp"
#include "server/downstream_pool.hpp"
#include "server/pool_waiters.hpp"
#include "server/pooled_downstream.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace cvp {

/// A connection: its descriptor, closed with it, and what was read past an answer.
struct blocking_http_connection
{
    blocking_http_connection() = default;
    blocking_http_connection(blocking_http_connection const&) = delete;
    blocking_http_connection& operator=(blocking_http_connection const&) = delete;
    ~blocking_http_connection();
    int fd = -1;
    beast::flat_buffer buffer;
};

/// A call in the queue: its thread sleeps on a condition variable until woken.
class blocking_transport : public blocking_waiting<blocking_http_connection>
{
public:
    using connection = blocking_http_connection;

    explicit blocking_transport(downstream_target const& target)
        : target_(target)
    {}

    asio::awaitable<error_code> open(std::unique_ptr<connection>& conn);
    asio::awaitable<error_code> exchange(connection& conn, std::string const& request, downstream_parser& parser,
                                         std::chrono::steady_clock::time_point deadline);

private:
    downstream_target const& target_;
};

/// The client `threads` uses.
using blocking_downstream = pooled_downstream<blocking_transport>;

} // namespace cvp
