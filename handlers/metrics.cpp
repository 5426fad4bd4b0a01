#include "handlers/metrics.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

namespace cvp {

namespace {

/// Writes the HELP and TYPE lines of one metric family.
void family(std::ostringstream& out, char const* name, char const* type, char const* help)
{
    out << "# HELP " << name << ' ' << help << '\n' << "# TYPE " << name << ' ' << type << '\n';
}

/// A figure as Prometheus text: a whole number as an integer (exact up to 2^53), any other
/// in its shortest round-trip form.
std::string number(double v)
{
    char buf[64];
    auto const whole = std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9007199254740992.0;
    auto [end, ec] = whole ? std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v)) : std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc{} ? std::string(buf, end) : "NaN";
}

/// The samples of one histogram: `labels` ("" or `a="b",c="d"`) on every line.
void histogram_samples(std::ostringstream& out, std::string const& name, std::string const& labels, delay_buckets const& buckets,
                       std::uint64_t count)
{
    auto const with = labels.empty() ? std::string{} : labels + ",";
    auto const only = labels.empty() ? std::string{} : "{" + labels + "}";
    for (auto const& [le, n] : buckets.at_most)
        out << name << "_bucket{" << with << "le=\"" << number(le) << "\"} " << n << '\n';
    out << name << "_bucket{" << with << "le=\"+Inf\"} " << count << '\n';
    out << name << "_sum" << only << ' ' << number(buckets.sum_s) << '\n';
    out << name << "_count" << only << ' ' << count << '\n';
}

/// One family of the exposition: its name, type, help, and how to read its figure.
template <typename Reader>
struct metric
{
    char const* name;
    char const* type;
    char const* help;
    Reader read;
};

/// A worker's figure, or nothing where the worker does not own it.
using worker_reader = std::optional<double> (*)(worker_snapshot const&);

/// A process-wide figure, or nothing where the model has no such part.
using process_reader = std::optional<double> (*)(stats_snapshot const&);

/// A worker counter.
template <std::uint64_t worker_snapshot::*Member>
std::optional<double> counter(worker_snapshot const& w)
{
    return static_cast<double>(w.*Member);
}

/// A gauge of the connections a worker owns; absent where it owns none (`pool`).
template <std::uint64_t worker_snapshot::connection_gauges::*Member>
std::optional<double> gauge(worker_snapshot const& w)
{
    if (!w.connections)
        return std::nullopt;
    return static_cast<double>((*w.connections).*Member);
}

/// A figure of offload's CPU pool; absent in the other models.
template <auto pool_snapshot::*Member>
std::optional<double> pool_figure(stats_snapshot const& s)
{
    if (!s.pool)
        return std::nullopt;
    return static_cast<double>((*s.pool).*Member);
}

/// Per-worker figures, labelled by mode, worker index and kind. Gauges of connections that
/// belong to no one thread (`pool`) are left out per worker; the totals have them.
constexpr metric<worker_reader> worker_metrics[] = {
    {"cvp_requests_total", "counter", "Requests served, by the thread that served them.", &counter<&worker_snapshot::requests>},
    {"cvp_requests_in_flight", "gauge", "Requests read and not yet answered, by the worker that owns the connection.",
     &gauge<&worker_snapshot::connection_gauges::requests_in_flight>},
    {"cvp_connections_open", "gauge", "Connections open, by the worker that owns them.", &gauge<&worker_snapshot::connection_gauges::open>},
    {"cvp_connections_total", "counter", "Connections accepted, by the worker that owns them.",
     &gauge<&worker_snapshot::connection_gauges::total>},
    {"cvp_work_tasks_total", "counter", "Pieces of CPU or blocking work run, by the thread that ran them.",
     &counter<&worker_snapshot::tasks>},
    {"cvp_work_busy_seconds_total", "counter", "Wall time spent running handler work, by thread.",
     [](worker_snapshot const& w) -> std::optional<double> { return static_cast<double>(w.busy_ns) * 1e-9; }},
    {"cvp_worker_thread_seconds_total", "counter", "Time the worker's threads have existed.",
     [](worker_snapshot const& w) -> std::optional<double> { return static_cast<double>(w.lived_ns) * 1e-9; }},
    {"cvp_worker_event_wait_seconds_total", "counter",
     "Time the worker's threads waited for events (epoll_wait, or a connection thread's wait for its client's next request); "
     "1 - rate(this) / rate(cvp_worker_thread_seconds_total) is its utilization.",
     [](worker_snapshot const& w) -> std::optional<double> { return static_cast<double>(w.event_wait_ns) * 1e-9; }},
};

/// Process-wide figures of the model, labelled by mode.
constexpr metric<process_reader> model_metrics[] = {
    {"cvp_connections_open_total", "gauge", "Connections open in the whole process.",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.totals.connections_open); }},
    {"cvp_connections_rejected_total", "counter",
     "Connections refused with 503 because the connection cap (--max-connections, or less where the open-file limit allows less) was "
     "reached.",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.totals.connections_rejected); }},
    {"cvp_max_connections", "gauge", "The connection cap in force: --max-connections, or less where the open-file limit allows less.",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.limits.max_connections); }},
    {"cvp_draining", "gauge", "1 while the server drains after SIGTERM/SIGINT.",
     [](stats_snapshot const& s) -> std::optional<double> { return s.draining ? 1.0 : 0.0; }},
    {"cvp_parallelism", "gauge", "Threads of the model that can run handler work at once.",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.parallelism); }},
    {"cvp_threads_alive", "gauge", "Threads the model runs now (in threads, one per open connection, plus the acceptor).",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.threads_alive); }},
    {"cvp_usable_cpus", "gauge", "CPUs the process may use: affinity combined with the cgroup quota.",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.cpu.usable); }},
};

/// Figures of the process and of offload's pool, without labels (the pool's only where
/// there is one).
constexpr metric<process_reader> unlabelled_metrics[] = {
    {"process_cpu_seconds_total", "counter", "User and system CPU time of the process.",
     [](stats_snapshot const& s) -> std::optional<double> { return s.process.cpu_user_s + s.process.cpu_system_s; }},
    {"process_resident_memory_bytes", "gauge", "Resident set size.",
     [](stats_snapshot const& s) -> std::optional<double> { return static_cast<double>(s.process.rss_bytes); }},
    {"cvp_pool_threads", "gauge", "Threads in the CPU pool.", &pool_figure<&pool_snapshot::threads>},
    {"cvp_pool_queue_capacity", "gauge", "Tasks that may wait for a pool thread.", &pool_figure<&pool_snapshot::queue_capacity>},
    {"cvp_pool_queue_depth", "gauge", "Tasks waiting for a pool thread.", &pool_figure<&pool_snapshot::queue_depth>},
    {"cvp_pool_running", "gauge", "Tasks running on the pool.", &pool_figure<&pool_snapshot::running>},
    {"cvp_pool_completed_total", "counter", "Tasks the pool completed.", &pool_figure<&pool_snapshot::completed>},
    {"cvp_pool_rejected_total", "counter", "Tasks refused with 503 because the queue was full.", &pool_figure<&pool_snapshot::rejected>},
    {"cvp_pool_nice_below_loop", "gauge", "Nice levels every pool thread runs below the I/O loop.",
     &pool_figure<&pool_snapshot::nice_below_loop>},
};

/// A figure of one downstream pool.
using downstream_reader = double (*)(downstream_pool_snapshot const&);

/// Figures of each downstream pool, labelled by mode and pool ("loop 0", "shared").
constexpr metric<downstream_reader> downstream_metrics[] = {
    {"cvp_downstream_connections_open", "gauge", "Connections open to the downstream: idle and in calls.",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.open); }},
    {"cvp_downstream_connections_in_use", "gauge", "Connections to the downstream in calls (or being opened).",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.in_use); }},
    {"cvp_downstream_connections_capacity", "gauge", "The most connections the pool opens (--upstream-connections, --db-connections).",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.capacity); }},
    {"cvp_downstream_connections_created_total", "counter", "Connections to the downstream opened.",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.created); }},
    {"cvp_downstream_connections_reused_total", "counter", "Calls that took an idle connection.",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.reused); }},
    {"cvp_downstream_waiting", "gauge", "Calls waiting for a connection.",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.waiting); }},
    {"cvp_downstream_waited_total", "counter", "Calls that waited for a connection.",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.waited); }},
    {"cvp_downstream_retried_total", "counter", "Calls tried again after the downstream closed an idle connection.",
     [](downstream_pool_snapshot const& d) { return static_cast<double>(d.retried); }},
};

} // namespace

std::string prometheus_text(stats_snapshot const& stats)
{
    std::ostringstream out;
    auto const mode = stats.mode;

    // One sample per worker that owns the figure.
    for (auto const& m : worker_metrics) {
        family(out, m.name, m.type, m.help);
        for (auto const& w : stats.workers) {
            if (auto const v = m.read(w))
                out << m.name << "{mode=\"" << mode << "\",worker=\"" << w.id << "\",kind=\"" << w.kind << "\"} " << number(*v) << '\n';
        }
    }

    // Each loop's lag as a histogram, and its stalls.
    if (!stats.loops.empty()) {
        family(out, "cvp_loop_lag_seconds", "histogram",
               "How late each event loop's periodic timer fired: what a request arriving then waited.");
        for (auto const& l : stats.loops)
            histogram_samples(out, "cvp_loop_lag_seconds", std::string{"mode=\""} + std::string{mode} + "\",loop=\"" + l.name + "\"",
                              l.lag_buckets, l.lag.count);
        family(out, "cvp_loop_stalls_total", "counter", "Times an event loop stayed away from its event wait past --stall-threshold.");
        for (auto const& l : stats.loops)
            out << "cvp_loop_stalls_total{mode=\"" << mode << "\",loop=\"" << l.name << "\"} " << l.stalls << '\n';
        family(out, "cvp_loop_utilization_ratio", "gauge",
               "Share of each event loop's threads' time spent outside their wait for events, over the last few seconds.");
        for (auto const& l : stats.loops)
            out << "cvp_loop_utilization_ratio{mode=\"" << mode << "\",loop=\"" << l.name << "\"} " << number(l.utilization_recent) << '\n';
    }

    // One sample per model-wide figure.
    for (auto const& m : model_metrics) {
        if (auto const v = m.read(stats)) {
            family(out, m.name, m.type, m.help);
            out << m.name << "{mode=\"" << mode << "\"} " << number(*v) << '\n';
        }
    }

    // The process's figures, then the pool's where the model has one.
    for (auto const& m : unlabelled_metrics) {
        if (auto const v = m.read(stats)) {
            family(out, m.name, m.type, m.help);
            out << m.name << ' ' << number(*v) << '\n';
        }
    }
    if (stats.pool) {
        family(out, "cvp_pool_queue_wait_seconds", "histogram",
               "How long tasks waited in the CPU pool's queue for a thread: offload's counterpart of a loop's lag.");
        histogram_samples(out, "cvp_pool_queue_wait_seconds", "", stats.pool->queue_wait_buckets, stats.pool->queue_wait.count);
    }
    // Each pool of downstream connections (HTTP, then the database), then its failed calls by fault.
    std::pair<char const*, std::vector<downstream_pool_snapshot> const*> const services[] = {{"http", &stats.downstream_pools},
                                                                                             {"postgres", &stats.database_pools}};
    auto const any = !stats.downstream_pools.empty() || !stats.database_pools.empty();
    for (auto const& m : downstream_metrics) {
        if (!any)
            break;
        family(out, m.name, m.type, m.help);
        for (auto const& [service, pools] : services)
            for (auto const& d : *pools)
                out << m.name << "{mode=\"" << mode << "\",service=\"" << service << "\",pool=\"" << d.name << "\"} " << number(m.read(d))
                    << '\n';
    }
    if (any) {
        family(out, "cvp_downstream_failures_total", "counter", "Downstream calls that failed, by fault.");
        for (auto const& [service, pools] : services)
            for (auto const& d : *pools)
                for (auto const& [fault, count] : d.faults)
                    out << "cvp_downstream_failures_total{mode=\"" << mode << "\",service=\"" << service << "\",pool=\"" << d.name
                        << "\",fault=\"" << fault << "\"} " << count << '\n';
    }
    return out.str();
}

std::string prometheus_state_text(shared_state const& state)
{
    std::ostringstream out;

    // Per strategy: what completed requests asked for, and what the counter holds; the difference was lost.
    family(out, "cvp_state_counter_increments_total", "counter",
           "Increments that completed /state/counter requests asked for, by strategy.");
    for (auto s : counter_strategies)
        out << "cvp_state_counter_increments_total{strategy=\"" << to_string(s) << "\"} " << state.counters.read(s).increments << '\n';
    family(out, "cvp_state_counter_value", "gauge", "The value of each strategy's counter (below the increments where updates were lost).");
    for (auto s : counter_strategies)
        out << "cvp_state_counter_value{strategy=\"" << to_string(s) << "\"} " << state.counters.read(s).value << '\n';

    // The accounts: transfers by lock order, and the deadlocks naive detected.
    auto const a = state.accounts.read();
    family(out, "cvp_state_transfers_total", "counter", "Transfers that moved money, by lock order.");
    out << "cvp_state_transfers_total{order=\"naive\"} " << a.naive_transfers << '\n';
    out << "cvp_state_transfers_total{order=\"ordered\"} " << a.ordered_transfers << '\n';
    family(out, "cvp_state_deadlocks_detected_total", "counter",
           "naive transfers that timed out on their second lock, backed out and answered 409.");
    out << "cvp_state_deadlocks_detected_total " << a.deadlocks_detected << '\n';
    return out.str();
}

} // namespace cvp
