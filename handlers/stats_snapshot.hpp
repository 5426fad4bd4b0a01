#pragma once

/// What /stats and /metrics report: one typed snapshot, filled by the server from its
/// counters and rendered once as JSON and once as Prometheus text.

#include "common/connection_budget.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cvp {

/// One worker thread's counters.
struct worker_snapshot
{
    int id = 0;
    /// "loop", "pool-thread" or "connection-thread".
    std::string_view kind;
    std::optional<int> cpu;
    std::uint64_t requests = 0;
    std::uint64_t responses = 0;
    std::uint64_t writes = 0;
    std::uint64_t tasks = 0;
    /// Wall time in handler work.
    std::uint64_t busy_ns = 0;
    /// How long the worker's threads lived, and the part spent waiting for events (a
    /// loop's epoll_wait, a connection thread's wait for its client's next request).
    std::int64_t lived_ns = 0;
    std::int64_t event_wait_ns = 0;
    /// The gauges of the connections the worker owns; absent where connections belong to
    /// no one thread (`pool`).
    struct connection_gauges
    {
        std::uint64_t open = 0;
        std::uint64_t total = 0;
        std::uint64_t requests_in_flight = 0;
    };
    std::optional<connection_gauges> connections;
};

/// A delay over some span, in microseconds: a loop's lag, the pool's queue wait.
struct lag_snapshot
{
    std::uint64_t count = 0;
    std::uint64_t min_us = 0;
    std::uint64_t p50_us = 0;
    std::uint64_t p99_us = 0;
    std::uint64_t max_us = 0;
    double mean_us = 0;
};

/// A delay's histogram since start as Prometheus has it: cumulative counts at each upper
/// bound (seconds), and the sum (seconds).
struct delay_buckets
{
    std::vector<std::pair<double, std::uint64_t>> at_most;
    double sum_s = 0;
};

/// offload's CPU pool.
struct pool_snapshot
{
    unsigned threads = 0;
    std::size_t queue_capacity = 0;
    std::size_t queue_depth = 0;
    std::size_t running = 0;
    std::uint64_t completed = 0;
    std::uint64_t rejected = 0;
    /// Nice levels every pool thread really runs below the loop (0 until they start).
    unsigned nice_below_loop = 0;
    /// How long tasks waited in the queue before a thread took them: for offload's loop
    /// the pool's queue plays the part that lag plays for a loop.
    lag_snapshot queue_wait;
    delay_buckets queue_wait_buckets;
};

/// One pool of connections to the downstream HTTP service (`--upstream`).
struct downstream_pool_snapshot
{
    /// "loop 0", "loop 1", ... where each loop has its own pool; "shared" where one serves all.
    std::string name;
    std::size_t capacity = 0;
    std::size_t queue_capacity = 0;
    /// Connections open now: idle ones plus those in calls (or being opened).
    std::size_t open = 0;
    std::size_t idle = 0;
    std::size_t in_use = 0;
    /// Calls waiting for a connection now.
    std::size_t waiting = 0;
    /// Connections opened, idle ones taken again, calls that waited, calls tried again.
    std::uint64_t created = 0;
    std::uint64_t reused = 0;
    std::uint64_t waited = 0;
    std::uint64_t retried = 0;
    /// Failed calls by fault ("refused", "timeout", ...), every fault listed.
    std::vector<std::pair<std::string_view, std::uint64_t>> faults;
};

/// One event loop's health: its lag and the stalls the watchdog saw.
struct loop_snapshot
{
    /// "loop 0", or "shared loop" in `pool`.
    std::string name;
    /// The workers whose handlers it runs.
    std::vector<int> workers;
    lag_snapshot lag;
    /// Over the last few seconds' ticks.
    lag_snapshot lag_recent;
    delay_buckets lag_buckets;
    /// The share of its threads' time spent outside their wait for events (0..1), since
    /// start and over the last few seconds' ticks.
    double utilization = 0;
    double utilization_recent = 0;
    std::uint64_t stalls = 0;
    /// The last stall: how long the loop had been stuck when seen, and what it was serving.
    std::optional<std::int64_t> last_stall_ms;
    std::string last_stall_serving;
};

struct stats_snapshot
{
    /// The execution model: its name, what it is, and how many threads can run handler
    /// work at once.
    std::string_view mode;
    std::string_view description;
    unsigned parallelism = 1;
    /// Threads the model runs now; in `threads` it follows the connections.
    std::size_t threads_alive = 0;
    std::string_view accept;
    bool draining = false;
    double uptime_s = 0;

    struct cpu_info
    {
        std::vector<int> allowed;
        std::vector<int> pinned;
        std::string cgroup;
        std::optional<double> quota_cpus;
        int usable = 1;
    } cpu;

    struct process_info
    {
        int pid = 0;
        double cpu_user_s = 0;
        double cpu_system_s = 0;
        std::uint64_t rss_bytes = 0;
    } process;

    struct limits_info
    {
        /// The connection cap in force: --max-connections, or less where the open-file
        /// limit allows less.
        std::size_t max_connections = 0;
        std::uint32_t max_header_bytes = 0;
        std::uint64_t max_body_bytes = 0;
        std::int64_t header_timeout_ms = 0;
        std::int64_t idle_timeout_ms = 0;
        std::int64_t write_timeout_ms = 0;
        std::int64_t drain_timeout_ms = 0;
        std::int64_t drain_grace_ms = 0;
        std::uint64_t thread_stack_bytes = 0;
        /// Where the cap comes from.
        connection_budget budget;
    } limits;

    std::vector<worker_snapshot> workers;
    /// Each event loop; `threads`' connection threads have none.
    std::vector<loop_snapshot> loops;
    std::int64_t lag_interval_ms = 0;
    /// 0: the watchdog is off.
    std::int64_t stall_threshold_ms = 0;
    std::optional<pool_snapshot> pool;
    /// The downstream's origin ("http://HOST:PORT") and its pools; empty without --upstream.
    std::string upstream;
    std::vector<downstream_pool_snapshot> downstream_pools;
    /// The database's pools (the synchronous path's "blocking" last); empty without --db.
    std::vector<downstream_pool_snapshot> database_pools;

    /// Sums over the workers, and what only the process counts.
    struct totals_info
    {
        std::uint64_t requests = 0;
        std::uint64_t requests_in_flight = 0;
        std::uint64_t connections_open = 0;
        std::uint64_t connections_total = 0;
        std::uint64_t responses = 0;
        std::uint64_t writes = 0;
        std::uint64_t connections_rejected = 0;
    } totals;
};

/// The /stats document.
nlohmann::json to_json(stats_snapshot const& s);

} // namespace cvp
