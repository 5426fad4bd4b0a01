#pragma once

/// The blocking transport of pooled_database, for `threads`: the connection thread waits
/// for libpq's socket in poll(), with no io_context behind it. One pool serves every
/// connection thread.

#include "server/database_target.hpp"
#include "server/pg_link.hpp"
#include "server/poll_ready.hpp"
#include "server/pool_waiters.hpp"
#include "server/pooled_database.hpp"

#include <poll.h>

#include <chrono>
#include <memory>

namespace cvp {

/// A libpq connection; its thread polls libpq's socket.
struct blocking_pg_connection
{
    explicit blocking_pg_connection(std::string const& conninfo)
        : link(conninfo)
    {}
    pg_link link;
};

class blocking_pg_transport : public blocking_waiting<blocking_pg_connection>
{
public:
    using connection = blocking_pg_connection;

    explicit blocking_pg_transport(database_target const& target)
        : target_(target)
    {}

    std::unique_ptr<connection> make() { return std::make_unique<connection>(target_.conninfo); }

    asio::awaitable<error_code> ready(connection& conn, bool write, std::chrono::steady_clock::time_point deadline)
    {
        co_return poll_ready(conn.link.socket(), write ? POLLOUT : POLLIN, deadline);
    }

private:
    database_target const& target_;
};

/// The client `threads` uses.
using blocking_database = pooled_database<blocking_pg_transport>;

} // namespace cvp
