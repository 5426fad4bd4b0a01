#include "handlers/metrics.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <sstream>

namespace cvp {

namespace {

/// Writes the HELP and TYPE lines of one metric family.
void family(std::ostringstream& out, char const* name, char const* type, char const* help)
{
    out << "# HELP " << name << ' ' << help << '\n' << "# TYPE " << name << ' ' << type << '\n';
}

/// A double in its shortest round-trip form, so large counters keep every digit.
std::string number(double v)
{
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc{} ? std::string(buf, end) : "NaN";
}

/// One worker figure: a counter, or a gauge the worker may not own.
using worker_field = std::optional<double> (*)(worker_snapshot const&);

template <std::uint64_t worker_snapshot::*Member>
std::optional<double> field(worker_snapshot const& w)
{
    return static_cast<double>(w.*Member);
}

template <std::uint64_t worker_snapshot::connection_gauges::*Member>
std::optional<double> gauge(worker_snapshot const& w)
{
    if (!w.connections)
        return std::nullopt;
    return static_cast<double>((*w.connections).*Member);
}

std::optional<double> busy_seconds(worker_snapshot const& w)
{
    return static_cast<double>(w.busy_ns) * 1e-9;
}

} // namespace

std::string prometheus_text(stats_snapshot const& stats)
{
    std::ostringstream out;
    auto const mode = stats.mode;

    // Per-worker figures, labelled by worker index and kind. Gauges of connections that
    // belong to no one thread (`pool`) are left out per worker; the totals below have them.
    struct per_worker
    {
        char const* name;
        worker_field read;
        char const* type;
        char const* help;
    };
    static constexpr per_worker worker_metrics[] = {
        {"cvp_requests_total", &field<&worker_snapshot::requests>, "counter", "Requests served, by the thread that served them."},
        {"cvp_requests_in_flight", &gauge<&worker_snapshot::connection_gauges::requests_in_flight>, "gauge",
         "Requests read and not yet answered, by the worker that owns the connection."},
        {"cvp_connections_open", &gauge<&worker_snapshot::connection_gauges::open>, "gauge",
         "Connections open, by the worker that owns them."},
        {"cvp_connections_total", &gauge<&worker_snapshot::connection_gauges::total>, "counter",
         "Connections accepted, by the worker that owns them."},
        {"cvp_work_tasks_total", &field<&worker_snapshot::tasks>, "counter",
         "Pieces of CPU or blocking work run, by the thread that ran them."},
        {"cvp_work_busy_seconds_total", &busy_seconds, "counter", "Wall time spent running handler work, by thread."},
    };
    for (auto const& m : worker_metrics) {
        family(out, m.name, m.type, m.help);
        for (auto const& w : stats.workers) {
            auto const v = m.read(w);
            if (!v)
                continue;
            out << m.name << "{mode=\"" << mode << "\",worker=\"" << w.id << "\",kind=\"" << w.kind << "\"} " << number(*v) << '\n';
        }
    }

    // Process-wide figures.
    auto const& totals = stats.totals;
    family(out, "cvp_connections_open_total", "gauge", "Connections open in the whole process.");
    out << "cvp_connections_open_total{mode=\"" << mode << "\"} " << totals.connections_open << '\n';
    family(out, "cvp_connections_rejected_total", "counter", "Connections refused with 503 because --max-connections was reached.");
    out << "cvp_connections_rejected_total{mode=\"" << mode << "\"} " << totals.connections_rejected << '\n';
    family(out, "cvp_max_connections", "gauge",
           "The connection cap in force: --max-connections, or less where the open-file limit allows less.");
    out << "cvp_max_connections{mode=\"" << mode << "\"} " << stats.limits.max_connections << '\n';
    family(out, "cvp_draining", "gauge", "1 while the server drains after SIGTERM/SIGINT.");
    out << "cvp_draining{mode=\"" << mode << "\"} " << (stats.draining ? 1 : 0) << '\n';
    family(out, "cvp_parallelism", "gauge", "Threads of the model that can run handler work at once.");
    out << "cvp_parallelism{mode=\"" << mode << "\"} " << stats.parallelism << '\n';
    family(out, "cvp_threads_alive", "gauge", "Threads the model runs now (in threads, one per open connection, plus the acceptor).");
    out << "cvp_threads_alive{mode=\"" << mode << "\"} " << stats.threads_alive << '\n';
    family(out, "cvp_usable_cpus", "gauge", "CPUs the process may use: affinity combined with the cgroup quota.");
    out << "cvp_usable_cpus{mode=\"" << mode << "\"} " << stats.cpu.usable << '\n';
    family(out, "process_cpu_seconds_total", "counter", "User and system CPU time of the process.");
    out << "process_cpu_seconds_total " << number(stats.process.cpu_user_s + stats.process.cpu_system_s) << '\n';
    family(out, "process_resident_memory_bytes", "gauge", "Resident set size.");
    out << "process_resident_memory_bytes " << stats.process.rss_bytes << '\n';

    // The pool, in offload only.
    if (auto const& pool = stats.pool) {
        family(out, "cvp_pool_threads", "gauge", "Threads in the CPU pool.");
        out << "cvp_pool_threads " << pool->threads << '\n';
        family(out, "cvp_pool_queue_capacity", "gauge", "Tasks that may wait for a pool thread.");
        out << "cvp_pool_queue_capacity " << pool->queue_capacity << '\n';
        family(out, "cvp_pool_queue_depth", "gauge", "Tasks waiting for a pool thread.");
        out << "cvp_pool_queue_depth " << pool->queue_depth << '\n';
        family(out, "cvp_pool_running", "gauge", "Tasks running on the pool.");
        out << "cvp_pool_running " << pool->running << '\n';
        family(out, "cvp_pool_completed_total", "counter", "Tasks the pool completed.");
        out << "cvp_pool_completed_total " << pool->completed << '\n';
        family(out, "cvp_pool_rejected_total", "counter", "Tasks refused with 503 because the queue was full.");
        out << "cvp_pool_rejected_total " << pool->rejected << '\n';
        family(out, "cvp_pool_nice_below_loop", "gauge", "Nice levels every pool thread runs below the I/O loop.");
        out << "cvp_pool_nice_below_loop " << pool->nice_below_loop << '\n';
    }
    return out.str();
}

} // namespace cvp
