#pragma once

/// The synchronous path of /db/query-blocking: PQexecPrepared on a connection from one
/// pool that every thread of the process shares ("blocking"), the calling thread blocked
/// until the row comes, as a driver without an asynchronous API would.

#include "handlers/database.hpp"
#include "server/database_target.hpp"
#include "server/downstream_pool.hpp"
#include "server/pg_link.hpp"

namespace cvp {

class sync_database
{
public:
    explicit sync_database(database_target const& target);

    /// The row of `id`, the calling thread blocked meanwhile.
    db_answer world(std::int32_t id);

    downstream_pool_snapshot snapshot() const { return pool_.snapshot(); }

private:
    database_target const& target_;
    connection_pool<pg_link> pool_;
};

} // namespace cvp
