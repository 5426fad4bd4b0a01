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

class blocking_pg_transport
{
public:
    struct connection
    {
        explicit connection(std::string const& conninfo)
            : link(conninfo)
        {}
        pg_link link;
    };

    using waiter = blocking_pool_waiter<connection>;

    explicit blocking_pg_transport(database_target const& target)
        : target_(target)
    {}

    asio::awaitable<std::shared_ptr<waiter>> make_waiter() { co_return std::make_shared<waiter>(); }

    /// The connection's thread sleeps here: it has nothing else to run meanwhile.
    asio::awaitable<void> wait(waiter& w, std::chrono::steady_clock::time_point deadline)
    {
        w.wait(deadline);
        co_return;
    }

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
