#pragma once

/// One libpq connection and the steps of its protocol, without any waiting: each step
/// says whether it needs the socket readable or writable next, so the async and the
/// blocking transports (pooled_database.hpp) wait their own way and drive the same steps.
///
/// The statement is prepared once per connection, in the first pipeline that needs it.
/// Queries go in pipeline mode (libpq 14+): every id's EXECUTE, then one Sync, so N rows
/// cost one round trip.

#include "handlers/database.hpp"

#include <libpq-fe.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace cvp {

class pg_link
{
public:
    /// What a step needs next.
    enum class want
    {
        read,
        write,
        done,
        failed,
    };

    /// Starts a non-blocking connection (PQconnectStart); drive it with connect_step().
    explicit pg_link(std::string const& conninfo);
    /// Opens a blocking connection for the synchronous path, within `connect_timeout_s`
    /// (libpq's connect_timeout, unless the conninfo sets its own), and bounds every
    /// statement on it by `statement_timeout_ms` (the server cancels a slower one).
    pg_link(std::string const& conninfo, int connect_timeout_s, long statement_timeout_ms);
    ~pg_link();
    pg_link(pg_link const&) = delete;
    pg_link& operator=(pg_link const&) = delete;

    /// The socket libpq uses now; it owns it, and it may change while connecting.
    int socket() const noexcept;
    /// True while the connection is up (PQstatus is CONNECTION_OK).
    bool alive() const noexcept;
    /// libpq's last error, on one line.
    std::string error() const;

    /// One step of the connection's start (PQconnectPoll); done once it can take queries.
    want connect_step();

    /// Queues a pipeline that reads the rows of `ids` (preparing the statement first if
    /// this connection has not yet). False when libpq refused to queue it.
    bool send_worlds(std::span<std::int32_t const> ids);
    /// Writes what is queued: write while libpq has more to send, done when all is sent.
    want flush();
    /// Reads what has arrived and takes the results that are whole; done at the pipeline's
    /// Sync, with `rows` filled (or `query_error()` set).
    want read_worlds(std::vector<world_row>& rows);
    /// The database's error for the last pipeline, if one of its commands failed.
    std::string const& query_error() const noexcept { return query_error_; }
    /// The last synchronous statement was cancelled by statement_timeout (SQLSTATE 57014).
    bool timed_out() const noexcept { return timed_out_; }

    /// The synchronous path: PQexecPrepared of one id, blocking.
    bool exec_world(std::int32_t id, world_row& row);

private:
    /// Keeps a failed synchronous statement's error and whether it was cancelled as too slow.
    void note_failure(PGresult const* r);

    PGconn* conn_ = nullptr;
    bool prepared_ = false;
    /// Results still to take in the current pipeline: the prepare's, each query's.
    std::size_t commands_left_ = 0;
    std::string query_error_;
    bool timed_out_ = false;
};

} // namespace cvp
