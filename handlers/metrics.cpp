#include "handlers/metrics.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
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

/// A JSON number as Prometheus prints it; booleans as 0/1.
std::string value(nlohmann::json const& v)
{
    if (v.is_boolean())
        return v.get<bool>() ? "1" : "0";
    if (v.is_null())
        return "NaN";
    return v.dump();
}

} // namespace

std::string prometheus_text(nlohmann::json const& stats)
{
    std::ostringstream out;
    auto const mode = stats.at("mode").get<std::string>();

    // Per-worker counters, labelled by worker index and role.
    struct per_worker
    {
        char const* name;
        char const* field;
        char const* type;
        char const* help;
        double scale;
    };
    static constexpr per_worker worker_metrics[] = {
        {"cvp_requests_total", "requests", "counter", "Requests served, by the event loop that served them.", 1},
        {"cvp_requests_in_flight", "requests_in_flight", "gauge", "Requests read and not yet answered, by event loop.", 1},
        {"cvp_connections_open", "connections_open", "gauge", "Connections open, by the event loop that owns them.", 1},
        {"cvp_connections_total", "connections_total", "counter", "Connections accepted, by the event loop that owns them.", 1},
        {"cvp_work_tasks_total", "tasks", "counter", "Pieces of CPU or blocking work run, by the thread that ran them.", 1},
        {"cvp_work_busy_seconds_total", "busy_ns", "counter", "Wall time spent running handler work, by thread.", 1e-9},
    };
    for (auto const& m : worker_metrics) {
        family(out, m.name, m.type, m.help);
        for (auto const& w : stats.at("workers")) {
            out << m.name << "{mode=\"" << mode << "\",worker=\"" << w.at("id").get<int>() << "\",role=\""
                << w.at("role").get<std::string>() << "\"} ";
            if (m.scale == 1)
                out << w.at(m.field).get<std::uint64_t>() << '\n';
            else
                out << number(static_cast<double>(w.at(m.field).get<std::uint64_t>()) * m.scale) << '\n';
        }
    }

    // Process-wide figures.
    auto const& totals = stats.at("totals");
    family(out, "cvp_connections_rejected_total", "counter", "Connections refused with 503 because --max-connections was reached.");
    out << "cvp_connections_rejected_total{mode=\"" << mode << "\"} " << value(totals.at("connections_rejected")) << '\n';
    family(out, "cvp_draining", "gauge", "1 while the server drains after SIGTERM/SIGINT.");
    out << "cvp_draining{mode=\"" << mode << "\"} " << value(stats.at("draining")) << '\n';
    family(out, "cvp_usable_cpus", "gauge", "CPUs the process may use: affinity combined with the cgroup quota.");
    out << "cvp_usable_cpus{mode=\"" << mode << "\"} " << value(stats.at("cpu").at("usable")) << '\n';
    auto const& process = stats.at("process");
    family(out, "process_cpu_seconds_total", "counter", "User and system CPU time of the process.");
    out << "process_cpu_seconds_total " << number(process.at("cpu_user_s").get<double>() + process.at("cpu_system_s").get<double>())
        << '\n';
    family(out, "process_resident_memory_bytes", "gauge", "Resident set size.");
    out << "process_resident_memory_bytes " << value(process.at("rss_bytes")) << '\n';

    // The pool, in offload only.
    if (auto const& pool = stats.at("pool"); !pool.is_null()) {
        family(out, "cvp_pool_threads", "gauge", "Threads in the CPU pool.");
        out << "cvp_pool_threads " << value(pool.at("threads")) << '\n';
        family(out, "cvp_pool_queue_capacity", "gauge", "Tasks that may wait for a pool thread.");
        out << "cvp_pool_queue_capacity " << value(pool.at("queue_capacity")) << '\n';
        family(out, "cvp_pool_queue_depth", "gauge", "Tasks waiting for a pool thread.");
        out << "cvp_pool_queue_depth " << value(pool.at("queue_depth")) << '\n';
        family(out, "cvp_pool_running", "gauge", "Tasks running on the pool.");
        out << "cvp_pool_running " << value(pool.at("running")) << '\n';
        family(out, "cvp_pool_completed_total", "counter", "Tasks the pool completed.");
        out << "cvp_pool_completed_total " << value(pool.at("completed")) << '\n';
        family(out, "cvp_pool_rejected_total", "counter", "Tasks refused with 503 because the queue was full.");
        out << "cvp_pool_rejected_total " << value(pool.at("rejected")) << '\n';
        family(out, "cvp_pool_nice_below_loop", "gauge", "Nice levels every pool thread runs below the I/O loop.");
        out << "cvp_pool_nice_below_loop " << value(pool.at("nice_below_loop")) << '\n';
    }
    return out.str();
}

} // namespace cvp
