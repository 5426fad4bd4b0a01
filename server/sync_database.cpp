#include "server/sync_database.hpp"

#include "common/clock.hpp"
#include "server/pool_waiters.hpp"

#include <chrono>
#include <memory>

namespace cvp {

sync_database::sync_database(database_target const& target)
    : target_(target)
    , pool_("blocking", target.connections, target.queue)
{}

db_answer sync_database::world(std::int32_t id)
{
    db_answer a;
    a.asked_ns = monotonic_ns();
    auto const deadline = std::chrono::steady_clock::now() + target_.timeout;
    auto fail = [&](downstream_fault f, std::string detail) {
        if (f != downstream_fault::exhausted && f != downstream_fault::queue_timeout)
            pool_.count(f);
        a.fault = f;
        a.detail = std::move(detail);
        a.done_ns = monotonic_ns();
        return std::move(a);
    };

    for (int attempt = 1; attempt <= 2; ++attempt) {
        // A connection: idle, new, or the next one free.
        auto w = std::make_shared<blocking_pool_waiter<pg_link>>();
        auto g = pool_.acquire(w);
        std::unique_ptr<pg_link> link;
        using kind = pool_grant<pg_link>::kind;
        if (g.what == kind::full)
            return fail(downstream_fault::exhausted, {});
        if (g.what == kind::queued) {
            w->wait(deadline);
            if (!pool_.settle(*w)) {
                pool_.count(downstream_fault::queue_timeout);
                return fail(downstream_fault::queue_timeout, {});
            }
            link = std::move(w->conn);
        } else {
            link = std::move(g.conn);
        }
        a.reused = link != nullptr;

        // A new one connects here, blocking (libpq's connect_timeout in --db bounds it);
        // the database itself bounds its statements by --db-timeout.
        if (!link) {
            link = std::make_unique<pg_link>(target_.conninfo, true);
            if (!link->alive() || !link->limit_statements(target_.timeout)) {
                auto const why = link->error();
                link.reset();
                pool_.discard();
                return fail(downstream_fault::connect_failed, why);
            }
        }

        // The query.
        a.sent_ns = monotonic_ns();
        world_row row;
        if (link->exec_world(id, row)) {
            a.rows.push_back(row);
            a.done_ns = monotonic_ns();
            pool_.release(std::move(link));
            return a;
        }
        // The database refused the query on a live connection, or cancelled it past
        // --db-timeout: the connection stays.
        if (link->alive()) {
            auto why = link->query_error();
            bool const timed_out = link->cancelled();
            pool_.release(std::move(link));
            if (timed_out)
                return fail(downstream_fault::timeout, {});
            return fail(downstream_fault::query_failed, why);
        }
        // The connection broke: a stale idle one is tried once more on a new one.
        auto const why = link->error();
        link.reset();
        pool_.discard();
        if (a.reused && attempt == 1) {
            pool_.take_idle();
            pool_.count_retry();
            continue;
        }
        return fail(downstream_fault::reset, why);
    }
    return fail(downstream_fault::reset, "the database closed a second connection");
}

} // namespace cvp
