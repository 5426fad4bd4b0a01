#pragma once

/// The async transport of pooled_database: libpq's socket watched by the loop's reactor,
/// no thread held while the database works. libpq owns the descriptor (and may change it
/// while connecting): the socket object that watches it is released, never closed, and
/// made again when the descriptor changes.

#include "server/asio.hpp"
#include "server/database_target.hpp"
#include "server/pg_link.hpp"
#include "server/pool_waiters.hpp"
#include "server/pooled_database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace cvp {

/// A libpq connection and the socket object watching its descriptor.
struct async_pg_connection
{
    async_pg_connection(std::string const& conninfo, asio::any_io_executor executor)
        : link(conninfo)
        , io(std::move(executor))
    {}
    async_pg_connection(async_pg_connection const&) = delete;
    async_pg_connection& operator=(async_pg_connection const&) = delete;
    /// Gives the descriptor back to libpq before PQfinish closes it.
    ~async_pg_connection();

    pg_link link;
    asio::any_io_executor io;
    std::optional<asio::generic::stream_protocol::socket> watch;
    int watched = -1;
};

class async_pg_transport : public async_waiting<async_pg_connection>
{
public:
    using connection = async_pg_connection;

    async_pg_transport(database_target const& target, asio::any_io_executor io)
        : target_(target)
        , io_(std::move(io))
    {}

    std::unique_ptr<connection> make() { return std::make_unique<connection>(target_.conninfo, io_); }
    asio::awaitable<error_code> ready(connection& conn, bool write, std::chrono::steady_clock::time_point deadline);

private:
    database_target const& target_;
    asio::any_io_executor io_;
};

/// The client the loop models use.
using async_database = pooled_database<async_pg_transport>;

} // namespace cvp
