#pragma once

/// Where the database is and the bounds of a call to it: made once at start-up from the
/// config, shared by every database pool.

#include "server/config.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace cvp {

struct database_target
{
    /// The libpq connection string, as --db gave it.
    std::string conninfo;
    std::size_t connections = 0;
    std::size_t queue = 0;
    std::chrono::milliseconds connect_timeout{};
    std::chrono::milliseconds timeout{};
};

/// --db and its bounds; empty without --db.
inline std::optional<database_target> database_of(config const& cfg)
{
    if (cfg.db.empty())
        return std::nullopt;
    return database_target{cfg.db, cfg.db_connections, cfg.db_queue, cfg.db_connect_timeout, cfg.db_timeout};
}

} // namespace cvp
