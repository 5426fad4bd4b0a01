#pragma once

/// The seam between the server and its execution models. The server listens, accepts,
/// caps connections, takes signals and drains; a model says where an accepted connection
/// is served, which work_runner serves it, which threads exist and of what kind, and how
/// they start and stop. Each model lives in its own file beside this one.

#include "handlers/context.hpp"
#include "handlers/router.hpp"
#include "handlers/stats_snapshot.hpp"
#include "server/asio.hpp"
#include "server/config.hpp"
#include "server/cpu_limits.hpp"
#include "server/database_target.hpp"
#include "server/downstream_http.hpp"
#include "server/drain_gate.hpp"
#include "server/models/catalog.hpp"
#include "server/stats.hpp"
#include "server/sync_database.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace cvp {

/// What the server lends every model.
struct model_services
{
    config const& cfg;
    cpu_limits const& limits;
    router const& routes;
    server_view const& server;
    /// Open connections, the connection cap and the drain.
    drain_gate& gate;
    /// The workers: each model adds its own.
    stats_registry& stats;
    /// The downstream HTTP service and the bounds of a call to it; null without --upstream.
    downstream_target const* upstream = nullptr;
    /// The database and the bounds of a call to it; null without --db.
    database_target const* db = nullptr;
    /// The synchronous path to the database, one pool for the process; null without --db.
    sync_database* db_blocking = nullptr;
};

/// The figures of the start-up line that depend on the model.
struct model_layout
{
    /// Event loops (in `pool`, threads running the one loop; in `threads`, the acceptor).
    std::size_t threads = 1;
    std::string_view accept = "round-robin";
    unsigned pool_threads = 0;
    unsigned pool_nice = 0;
    /// CPUs the model means to pin threads to.
    std::vector<int> pinned;
};

class execution_model
{
public:
    virtual ~execution_model() = default;
    execution_model(execution_model const&) = delete;
    execution_model& operator=(execution_model const&) = delete;

    /// The model's row in the catalog: its name, description and kinds of worker.
    model_card const& card() const noexcept { return card_; }
    /// The name --mode takes, and one sentence on what the model is.
    std::string_view name() const noexcept { return card_.name; }
    std::string_view description() const noexcept { return card_.description; }
    /// How many threads can run handler work at once.
    virtual unsigned parallelism() const noexcept = 0;
    /// Threads the model runs now.
    virtual std::size_t threads_alive() const noexcept = 0;
    virtual model_layout layout() const = 0;
    /// File descriptors each connection holds: its socket, in every model so far.
    virtual std::size_t descriptors_per_connection() const noexcept { return 1; }
    /// offload's CPU pool, where the model has one.
    virtual std::optional<pool_snapshot> pool() const { return std::nullopt; }
    /// The pools of downstream connections: one per loop, or one shared; none without
    /// --upstream.
    virtual std::vector<downstream_pool_snapshot> downstream_pools() const { return {}; }
    /// The pools of database connections for /db/query and /db/queries, placed as the
    /// downstream pools are; none without --db.
    virtual std::vector<downstream_pool_snapshot> database_pools() const { return {}; }

    /// How many acceptors the model wants (one per loop with reuseport), and the
    /// executor acceptor `i` lives on. Acceptor 0 also takes signals and the drain timer.
    virtual std::size_t acceptor_count() const noexcept { return 1; }
    virtual asio::any_io_executor acceptor_executor(std::size_t i) = 0;
    /// Whether the acceptors share their port with SO_REUSEPORT.
    virtual bool reuseport() const noexcept { return false; }

    /// Accepts one connection queued on acceptor `i`, without waiting, onto the place that
    /// will serve it, and starts its session (or refuses it under the cap). Returns false,
    /// with `ec` set, when none was queued or accepting failed.
    virtual bool accept_one(tcp::acceptor& acceptor, std::size_t i, error_code& ec) = 0;

    /// Runs the model's threads; returns once stop() has been called and all have ended.
    virtual void run() = 0;
    /// Stops every loop now. Safe from any thread.
    virtual void stop() noexcept = 0;

    /// A drain began: every connection waiting for a request may deliver one until
    /// `grace_deadline`.
    virtual void begin_drain(std::chrono::steady_clock::time_point grace_deadline) = 0;
    /// The drain timed out: close every connection.
    virtual void close_all() = 0;

protected:
    explicit execution_model(model_card const& card)
        : card_(card)
    {}

private:
    model_card const& card_;
};

/// A thread count asked for, where 0 means the usable CPUs.
inline unsigned threads_or_usable(unsigned asked, cpu_limits const& limits) noexcept
{
    return asked != 0 ? asked : static_cast<unsigned>(limits.usable);
}

/// The CPU thread `i` of a pinned model is meant for: the allowed ones in turn.
inline std::optional<int> planned_cpu(bool pin, cpu_limits const& limits, unsigned i)
{
    if (!pin || limits.allowed.empty())
        return std::nullopt;
    return limits.allowed[i % limits.allowed.size()];
}

/// The model --mode names, planned from the config and the usable CPUs.
std::unique_ptr<execution_model> make_model(model_services services);

} // namespace cvp
