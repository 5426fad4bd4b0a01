#pragma once

/// A database client over a pool of libpq connections, written once for both ways of
/// waiting: `Transport` is the async one (database_async.hpp: the socket watched by the
/// loop, no thread held) or the blocking one (database_blocking.hpp: poll() in `threads`).
/// The libpq protocol itself is pg_link's; this drives its steps, waiting where they say.
///
/// A call takes an idle connection, or opens one (a database that is down: 503), or waits
/// in the pool's bounded queue, or is refused (503). Its rows come in one pipeline within
/// --db-timeout (504 past it). A connection that broke is closed and its place freed; when
/// it was an idle one the database had closed (a restart), the call goes once more on a
/// new one: a SELECT may be repeated. The synchronous path (world_blocking) is
/// sync_database's, shared by every pool of the process.
///
/// Transport provides:
///   connection                          a pg_link `link` and whatever its waits need
///   waiter, make_waiter(), wait(waiter&, deadline)       as in pooled_downstream.hpp
///   std::unique_ptr<connection> make()                    starts a connection
///   awaitable<error_code> ready(connection&, bool write, deadline)

#include "common/clock.hpp"
#include "handlers/database.hpp"
#include "server/database_target.hpp"
#include "server/downstream_pool.hpp"
#include "server/pg_link.hpp"
#include "server/pool_waiters.hpp"
#include "server/sync_database.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

namespace cvp {

template <typename Transport>
class pooled_database final : public database_client
{
public:
    using connection = typename Transport::connection;

    pooled_database(database_target const& target, Transport transport, std::string pool_name, sync_database& blocking)
        : target_(target)
        , transport_(std::move(transport))
        , pool_(std::move(pool_name), target.connections, target.queue)
        , blocking_(blocking)
    {}

    asio::awaitable<db_answer> worlds(std::vector<std::int32_t> ids) override
    {
        db_answer a;
        a.asked_ns = monotonic_ns();
        auto const deadline = std::chrono::steady_clock::now() + target_.timeout;

        for (int attempt = 1; attempt <= 2; ++attempt) {
            // A connection: idle, new, or the next one free.
            std::unique_ptr<connection> conn;
            bool reused = false;
            if (auto fault = co_await take_connection(pool_, transport_, conn, reused, deadline))
                co_return failed(a, *fault);
            a.reused = reused;

            // A new one connects first, within the connect timeout; a failure frees its place.
            if (!conn) {
                conn = transport_.make();
                auto const connect_deadline = std::min(deadline, std::chrono::steady_clock::now() + target_.connect_timeout);
                if (auto fault = co_await connect(*conn, connect_deadline)) {
                    auto why = conn->link.error();
                    pool_.drop(std::move(conn));
                    co_return failed(a, *fault, std::move(why));
                }
            }

            // The pipeline: every id, one Sync; then the rows.
            a.sent_ns = monotonic_ns();
            a.rows.clear();
            auto const outcome = co_await exchange(*conn, ids, a.rows, deadline);
            if (outcome == step::done) {
                a.done_ns = monotonic_ns();
                if (!conn->link.query_error().empty()) {
                    // The database refused the query; the connection is still good.
                    auto why = conn->link.query_error();
                    pool_.release(std::move(conn));
                    co_return failed(a, downstream_fault::query_failed, std::move(why));
                }
                pool_.release(std::move(conn));
                co_return a;
            }
            auto why = conn->link.error();
            pool_.drop(std::move(conn));
            if (outcome == step::timed_out)
                co_return failed(a, downstream_fault::timeout, {});

            // A connection the database had closed while idle: its older siblings too; once more.
            if (reused && attempt == 1 && a.rows.empty()) {
                pool_.take_idle();
                pool_.count_retry();
                continue;
            }
            co_return failed(a, downstream_fault::reset, std::move(why));
        }
        co_return failed(a, downstream_fault::reset, "the database closed a second connection");
    }

    db_answer world_blocking(std::int32_t id) override { return blocking_.world(id); }

    /// The pool's figures for /stats and /metrics.
    downstream_pool_snapshot snapshot() const { return pool_.snapshot(); }

private:
    /// How a pipeline ended.
    enum class step
    {
        done,
        broken,
        timed_out,
    };

    /// Drives the connection's start; the fault when it does not come up.
    asio::awaitable<std::optional<downstream_fault>> connect(connection& conn, std::chrono::steady_clock::time_point deadline)
    {
        for (;;) {
            auto const w = conn.link.connect_step();
            if (w == pg_link::want::done)
                co_return std::nullopt;
            if (w == pg_link::want::failed)
                co_return downstream_fault::connect_failed;
            if (auto ec = co_await transport_.ready(conn, w == pg_link::want::write, deadline))
                co_return ec == beast::error::timeout ? downstream_fault::connect_timeout : downstream_fault::connect_failed;
        }
    }

    /// Sends the pipeline and reads its results into `rows`.
    asio::awaitable<step> exchange(connection& conn, std::vector<std::int32_t> const& ids, std::vector<world_row>& rows,
                                   std::chrono::steady_clock::time_point deadline)
    {
        if (!conn.link.send_worlds(ids))
            co_return step::broken;
        // Everything queued goes out.
        for (auto w = conn.link.flush(); w != pg_link::want::done; w = conn.link.flush()) {
            if (w == pg_link::want::failed)
                co_return step::broken;
            if (auto ec = co_await transport_.ready(conn, true, deadline))
                co_return ec == beast::error::timeout ? step::timed_out : step::broken;
        }
        // The results, as they come.
        for (;;) {
            auto const w = conn.link.read_worlds(rows);
            if (w == pg_link::want::done)
                co_return step::done;
            if (w == pg_link::want::failed)
                co_return step::broken;
            if (auto ec = co_await transport_.ready(conn, w == pg_link::want::write, deadline))
                co_return ec == beast::error::timeout ? step::timed_out : step::broken;
        }
    }

    /// Ends `a` with a fault, counted in the pool.
    db_answer failed(db_answer& a, downstream_fault f, std::string detail = {}) { return end_with_fault(pool_, a, f, std::move(detail)); }

    database_target const& target_;
    Transport transport_;
    connection_pool<connection> pool_;
    sync_database& blocking_;
};

} // namespace cvp
