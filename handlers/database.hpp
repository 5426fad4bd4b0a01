#pragma once

/// The third narrow interface between handlers and execution models: reads of the `world`
/// table in PostgreSQL (`--db`). The non-blocking path waits where the model waits for
/// sockets (its loop, or `threads`' poll); the blocking one is plain synchronous libpq,
/// which a handler runs as blocking work, so the model decides which thread it stalls.

#include "handlers/downstream.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cvp {

/// One row of `world`.
struct world_row
{
    std::int32_t id = 0;
    std::int32_t random_number = 0;
};

/// What one database call brought back.
struct db_answer
{
    /// Empty when the rows came back; the faults are those of downstream calls, plus
    /// query_failed.
    std::optional<downstream_fault> fault;
    std::string detail;
    std::vector<world_row> rows;
    /// CLOCK_MONOTONIC when the call asked for a connection, had one, and had its rows.
    std::int64_t asked_ns = 0;
    std::int64_t sent_ns = 0;
    std::int64_t done_ns = 0;
    bool reused = false;
};

/// Reads rows of `world`. One per loop, or one shared, as the model decides.
class database_client
{
public:
    virtual ~database_client() = default;

    /// The rows of `ids`, in that order, on the non-blocking path: one prepared statement
    /// per id, all sent at once in one pipeline.
    virtual boost::asio::awaitable<db_answer> worlds(std::vector<std::int32_t> ids) = 0;

    /// The row of `id` through synchronous PQexecPrepared: blocks the calling thread until
    /// the row comes. Run it as blocking work.
    virtual db_answer world_blocking(std::int32_t id) = 0;

protected:
    database_client() = default;
    database_client(database_client const&) = default;
    database_client& operator=(database_client const&) = default;
};

} // namespace cvp
