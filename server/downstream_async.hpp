#pragma once

/// The async transport of pooled_downstream: Beast's tcp_stream on the loop's io_context,
/// waits on the caller's executor, no thread held while the downstream thinks. The loop
/// models have one pool per loop; `pool` has one shared by its threads.

#include "server/asio.hpp"
#include "server/downstream_http.hpp"
#include "server/downstream_pool.hpp"
#include "server/pool_waiters.hpp"
#include "server/pooled_downstream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace cvp {

/// A connection: the stream (its timer bounds every step) and what was read past an answer.
struct async_http_connection
{
    explicit async_http_connection(asio::any_io_executor io)
        : stream(std::move(io))
    {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
};

/// A call in the queue waits on a timer of its executor.
class async_transport : public async_waiting<async_http_connection>
{
public:
    using connection = async_http_connection;

    /// Sockets are made on `io`, the loop's own executor (not a connection's strand: a
    /// connection may serve calls of many).
    async_transport(downstream_target const& target, asio::any_io_executor io)
        : target_(target)
        , io_(std::move(io))
    {}

    asio::awaitable<error_code> open(std::unique_ptr<connection>& conn);
    asio::awaitable<error_code> exchange(connection& conn, std::string const& request, downstream_parser& parser,
                                         std::chrono::steady_clock::time_point deadline);

private:
    downstream_target const& target_;
    asio::any_io_executor io_;
};

/// The client the loop models use.
using async_downstream = pooled_downstream<async_transport>;

} // namespace cvp
