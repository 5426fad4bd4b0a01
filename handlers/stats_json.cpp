#include "handlers/stats_snapshot.hpp"

#include <nlohmann/json.hpp>

namespace cvp {

namespace {

using json = nlohmann::json;

template <class T>
json or_null(std::optional<T> const& v)
{
    return v ? json(*v) : json(nullptr);
}

json worker_json(worker_snapshot const& w)
{
    json out{{"id", w.id},
             {"kind", w.kind},
             {"cpu", or_null(w.cpu)},
             {"requests", w.requests},
             {"responses", w.responses},
             {"writes", w.writes},
             {"tasks", w.tasks},
             {"busy_ns", w.busy_ns},
             {"lived_ns", w.lived_ns},
             {"event_wait_ns", w.event_wait_ns},
             {"connections_open", nullptr},
             {"connections_total", nullptr},
             {"requests_in_flight", nullptr}};
    // Where a worker owns its connections, their gauges are its own.
    if (w.connections) {
        out["connections_open"] = w.connections->open;
        out["connections_total"] = w.connections->total;
        out["requests_in_flight"] = w.connections->requests_in_flight;
    }
    return out;
}

/// Pools of downstream or database connections.
json pools_json(std::vector<downstream_pool_snapshot> const& list)
{
    json pools = json::array();
    for (auto const& d : list) {
        json faults = json::object();
        for (auto const& [name, count] : d.faults)
            faults[std::string{name}] = count;
        pools.push_back(json{{"name", d.name},
                             {"capacity", d.capacity},
                             {"queue_capacity", d.queue_capacity},
                             {"open", d.open},
                             {"idle", d.idle},
                             {"in_use", d.in_use},
                             {"waiting", d.waiting},
                             {"created", d.created},
                             {"reused", d.reused},
                             {"waited", d.waited},
                             {"retried", d.retried},
                             {"faults", std::move(faults)}});
    }
    return pools;
}

json lag_json(lag_snapshot const& l)
{
    return json{{"count", l.count},
                {"min_ms", static_cast<double>(l.min_us) / 1000},
                {"p50_ms", static_cast<double>(l.p50_us) / 1000},
                {"p99_ms", static_cast<double>(l.p99_us) / 1000},
                {"max_ms", static_cast<double>(l.max_us) / 1000},
                {"mean_ms", l.mean_us / 1000}};
}

json loop_json(loop_snapshot const& l)
{
    json last = nullptr;
    if (l.last_stall_ms)
        last = json{{"stuck_ms", *l.last_stall_ms}, {"serving", l.last_stall_serving}};
    return json{{"name", l.name},
                {"workers", l.workers},
                {"lag", lag_json(l.lag)},
                {"lag_recent", lag_json(l.lag_recent)},
                {"utilization", l.utilization},
                {"utilization_recent", l.utilization_recent},
                {"stalls", l.stalls},
                {"last_stall", std::move(last)}};
}

} // namespace

json to_json(stats_snapshot const& s)
{
    json workers = json::array();
    for (auto const& w : s.workers)
        workers.push_back(worker_json(w));

    json loops = json::array();
    for (auto const& l : s.loops)
        loops.push_back(loop_json(l));

    json pool = nullptr;
    if (s.pool)
        pool = json{{"threads", s.pool->threads},
                    {"queue_capacity", s.pool->queue_capacity},
                    {"queue_depth", s.pool->queue_depth},
                    {"running", s.pool->running},
                    {"completed", s.pool->completed},
                    {"rejected", s.pool->rejected},
                    {"nice_below_loop", s.pool->nice_below_loop},
                    {"queue_wait", lag_json(s.pool->queue_wait)}};

    // The downstream's pools, null without --upstream; the database's, null without --db.
    json downstream = nullptr;
    if (!s.upstream.empty())
        downstream = json{{"origin", s.upstream}, {"pools", pools_json(s.downstream_pools)}};
    json database = nullptr;
    if (!s.database_pools.empty())
        database = json{{"pools", pools_json(s.database_pools)}};

    return json{
        {"mode", s.mode},
        {"model", {{"name", s.mode}, {"description", s.description}, {"parallelism", s.parallelism}, {"threads_alive", s.threads_alive}}},
        {"accept", s.accept},
        {"draining", s.draining},
        {"uptime_s", s.uptime_s},
        {"cpu",
         {{"allowed", s.cpu.allowed},
          {"pinned", s.cpu.pinned},
          {"cgroup", s.cpu.cgroup},
          {"quota_cpus", or_null(s.cpu.quota_cpus)},
          {"usable", s.cpu.usable}}},
        {"process",
         {{"pid", s.process.pid},
          {"cpu_user_s", s.process.cpu_user_s},
          {"cpu_system_s", s.process.cpu_system_s},
          {"rss_bytes", s.process.rss_bytes}}},
        {"limits",
         {{"max_connections", s.limits.max_connections},
          {"max_header_bytes", s.limits.max_header_bytes},
          {"max_body_bytes", s.limits.max_body_bytes},
          {"header_timeout_ms", s.limits.header_timeout_ms},
          {"idle_timeout_ms", s.limits.idle_timeout_ms},
          {"write_timeout_ms", s.limits.write_timeout_ms},
          {"drain_timeout_ms", s.limits.drain_timeout_ms},
          {"drain_grace_ms", s.limits.drain_grace_ms},
          {"thread_stack_bytes", s.limits.thread_stack_bytes},
          {"max_connections_flag", s.limits.budget.asked},
          {"open_file_limit", s.limits.budget.open_files},
          {"descriptors_per_connection", s.limits.budget.per_connection},
          {"descriptors_reserved", s.limits.budget.reserved}}},
        {"workers", std::move(workers)},
        {"loops", std::move(loops)},
        {"lag_interval_ms", s.lag_interval_ms},
        {"stall_threshold_ms", s.stall_threshold_ms},
        {"pool", std::move(pool)},
        {"downstream", std::move(downstream)},
        {"database", std::move(database)},
        {"totals",
         {{"requests", s.totals.requests},
          {"requests_in_flight", s.totals.requests_in_flight},
          {"connections_open", s.totals.connections_open},
          {"connections_total", s.totals.connections_total},
          {"responses", s.totals.responses},
          {"writes", s.totals.writes},
          {"connections_rejected", s.totals.connections_rejected}}},
    };
}

} // namespace cvp
