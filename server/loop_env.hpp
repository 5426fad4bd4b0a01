#pragma once

/// What every session on one event loop (or, in `threads`, every connection thread)
/// shares: the config, the routes, the server, the work_runner, the drain.

#include "handlers/context.hpp"
#include "handlers/database.hpp"
#include "handlers/downstream.hpp"
#include "handlers/router.hpp"
#include "server/config.hpp"
#include "server/drain_gate.hpp"

#include <string_view>

namespace cvp {

class session_registry;

/// Read-only once made, so the threads of one loop may share it.
struct loop_env
{
    config const& cfg;
    router const& routes;
    server_view const& server;
    work_runner& runner;
    /// Where the loop's asynchronous sessions enlist, so that a drain can reach them.
    session_registry& sessions;
    /// Open connections in the whole process, and the drain.
    drain_gate& gate;
    std::string_view mode;
    /// The loop's client of the downstream service; null without --upstream.
    downstream_client* downstream = nullptr;
    /// The loop's client of the database; null without --db.
    database_client* database = nullptr;
};

} // namespace cvp
