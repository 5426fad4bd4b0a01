#include "loadtest/load/run_result.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace cvp::load {

namespace {

/// A figure rounded to `digits` decimals, for JSON that people read.
double rounded(double v, int digits)
{
    auto const scale = std::pow(10.0, digits);
    return std::round(v * scale) / scale;
}

/// The figures of one histogram, in microseconds.
nlohmann::json figures(latency_histogram const& h)
{
    auto const s = h.summary();
    return {{"min", s.min},   {"mean", rounded(s.mean, 1)}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99},
            {"p999", s.p999}, {"p9999", s.p9999},           {"max", s.max}};
}

/// Microseconds for people: "812 µs", "10.41 ms", "1.203 s".
std::string duration_text(double us)
{
    std::ostringstream out;
    out << std::fixed;
    if (us < 1000)
        out << std::setprecision(0) << us << " µs";
    else if (us < 1'000'000)
        out << std::setprecision(2) << us / 1000 << " ms";
    else
        out << std::setprecision(3) << us / 1e6 << " s";
    return out.str();
}

} // namespace

std::vector<std::string> const& error_kinds()
{
    static std::vector<std::string> const kinds = {"connect", "write", "closed", "read", "timeout", "framing", "status"};
    return kinds;
}

nlohmann::json to_json(run_result const& r)
{
    // Every error kind, zero or not, so that readers need no defaults.
    auto errors = nlohmann::json::object();
    for (auto const& k : error_kinds())
        errors[k] = r.errors.contains(k) ? r.errors.at(k) : 0;
    auto urls = nlohmann::json::array();
    for (auto const& u : r.urls)
        urls.push_back({{"path", u.path}, {"weight", u.weight}, {"sent", u.sent}, {"completed", u.completed}});
    return {
        {"tool", "cvp-load"},
        {"format", 1},
        {"target", r.target},
        {"urls", std::move(urls)},
        {"arrival", r.arrival},
        {"seed", r.seed},
        {"rate_asked", rounded(r.rate_asked, 3)},
        {"rate_achieved", rounded(r.rate_achieved(), 3)},
        {"throughput", rounded(r.throughput(), 3)},
        {"duration_s", rounded(r.duration_s, 6)},
        {"warmup_s", rounded(r.warmup_s, 6)},
        {"generators", r.generators},
        {"scheduled", r.scheduled},
        {"sent", r.sent},
        {"completed", r.completed},
        {"late", r.late},
        {"late_after_us", r.late_after_us},
        {"dropped", r.dropped},
        {"unfinished", r.unfinished},
        {"errors", std::move(errors)},
        {"status", r.status},
        {"connections", {{"opened", r.connections_opened}, {"max_open", r.connections_max_open}, {"max_allowed", r.connections_allowed}}},
        {"latency_us", figures(r.latency)},
        {"service_us", figures(r.service)},
        {"send_lag_us", figures(r.send_lag)},
        {"behind", r.behind},
        {"behind_reason", r.behind ? nlohmann::json(r.behind_reason) : nlohmann::json(nullptr)},
        {"cpu_s", rounded(r.cpu_s, 4)},
        {"wall_s", rounded(r.wall_s, 4)},
        {"cpu_share", rounded(r.wall_s > 0 ? r.cpu_s / r.wall_s : 0.0, 4)},
        {"histogram", r.latency.to_json()},
        {"service_histogram", r.service.to_json()},
        {"send_lag_histogram", r.send_lag.to_json()},
    };
}

bool from_json(nlohmann::json const& j, run_result& out, std::string& error)
{
    try {
        if (j.at("tool") != "cvp-load" || j.at("format") != 1) {
            error = "not the output of this cvp-load (tool or format differ)";
            return false;
        }
        run_result r;
        r.target = j.at("target").get<std::string>();
        for (auto const& u : j.at("urls"))
            r.urls.push_back({u.at("path").get<std::string>(), u.at("weight").get<std::uint64_t>(), u.at("sent").get<std::uint64_t>(),
                              u.at("completed").get<std::uint64_t>()});
        r.arrival = j.at("arrival").get<std::string>();
        r.seed = j.at("seed").get<std::uint64_t>();
        r.rate_asked = j.at("rate_asked").get<double>();
        r.duration_s = j.at("duration_s").get<double>();
        r.warmup_s = j.at("warmup_s").get<double>();
        r.generators = j.at("generators").get<std::uint64_t>();
        r.scheduled = j.at("scheduled").get<std::uint64_t>();
        r.sent = j.at("sent").get<std::uint64_t>();
        r.completed = j.at("completed").get<std::uint64_t>();
        r.late = j.at("late").get<std::uint64_t>();
        r.late_after_us = j.at("late_after_us").get<std::uint64_t>();
        r.dropped = j.at("dropped").get<std::uint64_t>();
        r.unfinished = j.at("unfinished").get<std::uint64_t>();
        r.errors = j.at("errors").get<std::map<std::string, std::uint64_t>>();
        r.status = j.at("status").get<std::map<std::string, std::uint64_t>>();
        auto const& c = j.at("connections");
        r.connections_opened = c.at("opened").get<std::uint64_t>();
        r.connections_max_open = c.at("max_open").get<std::uint64_t>();
        r.connections_allowed = c.at("max_allowed").get<std::uint64_t>();
        r.cpu_s = j.at("cpu_s").get<double>();
        r.wall_s = j.at("wall_s").get<double>();
        r.behind = j.at("behind").get<bool>();
        r.behind_reason = j.at("behind_reason").is_string() ? j.at("behind_reason").get<std::string>() : "";
        // The histograms carry everything the percentiles are computed from.
        if (!latency_histogram::from_json(j.at("histogram"), r.latency, error) ||
            !latency_histogram::from_json(j.at("service_histogram"), r.service, error) ||
            !latency_histogram::from_json(j.at("send_lag_histogram"), r.send_lag, error))
            return false;
        out = std::move(r);
        return true;
    } catch (nlohmann::json::exception const& e) {
        error = std::string{"not the output of cvp-load: "} + e.what();
        return false;
    }
}

run_result merge(std::vector<run_result> const& runs)
{
    run_result m;
    if (runs.empty())
        return m;
    m = runs.front();
    for (std::size_t i = 1; i < runs.size(); ++i) {
        auto const& r = runs[i];
        // What describes the runs: kept when they agree, listed when they do not.
        if (r.target != m.target && m.target.find(r.target) == std::string::npos)
            m.target += "," + r.target;
        if (r.arrival != m.arrival)
            m.arrival = "mixed";
        for (auto const& u : r.urls) {
            auto it = std::find_if(m.urls.begin(), m.urls.end(), [&](auto const& x) { return x.path == u.path; });
            if (it == m.urls.end()) {
                m.urls.push_back(u);
            } else {
                it->sent += u.sent;
                it->completed += u.completed;
            }
        }
        // What adds up.
        m.rate_asked += r.rate_asked;
        m.duration_s = std::max(m.duration_s, r.duration_s);
        m.warmup_s = std::max(m.warmup_s, r.warmup_s);
        m.generators += r.generators;
        m.scheduled += r.scheduled;
        m.sent += r.sent;
        m.completed += r.completed;
        m.late += r.late;
        m.late_after_us = std::max(m.late_after_us, r.late_after_us);
        m.dropped += r.dropped;
        m.unfinished += r.unfinished;
        for (auto const& [k, v] : r.errors)
            m.errors[k] += v;
        for (auto const& [k, v] : r.status)
            m.status[k] += v;
        m.connections_opened += r.connections_opened;
        m.connections_max_open += r.connections_max_open;
        m.connections_allowed += r.connections_allowed;
        // The histograms, bucket by bucket.
        m.latency.merge(r.latency);
        m.service.merge(r.service);
        m.send_lag.merge(r.send_lag);
        m.cpu_s += r.cpu_s;
        m.wall_s = std::max(m.wall_s, r.wall_s);
        if (r.behind) {
            m.behind_reason += (m.behind ? "; " : "") + r.behind_reason;
            m.behind = true;
        }
    }
    return m;
}

std::string human_summary(run_result const& r)
{
    std::ostringstream out;
    out << std::fixed << std::setprecision(1);
    out << "cvp-load: " << r.target << ", " << r.arrival << " arrivals at " << r.rate_asked << "/s for " << r.duration_s << " s"
        << (r.generators > 1 ? " (" + std::to_string(r.generators) + " generators)" : "") << "\n";
    out << "  rate achieved " << r.rate_achieved() << "/s, throughput " << r.throughput() << "/s; scheduled " << r.scheduled << ", sent "
        << r.sent << ", completed " << r.completed << ", late " << r.late << " (>" << static_cast<double>(r.late_after_us) / 1000.0
        << " ms), dropped " << r.dropped << ", unfinished " << r.unfinished << "\n";
    // The errors that happened, by kind.
    std::string errors;
    for (auto const& [k, v] : r.errors)
        if (v != 0)
            errors += " " + k + "=" + std::to_string(v);
    out << "  errors:" << (errors.empty() ? " none" : errors) << "; connections opened " << r.connections_opened << ", most open "
        << r.connections_max_open << "\n";
    // Percentiles, from the due time and from the actual send.
    auto row = [&](char const* name, latency_histogram const& h) {
        auto const s = h.summary();
        out << "  " << name << " p50 " << duration_text(static_cast<double>(s.p50)) << "  p90 " << duration_text(static_cast<double>(s.p90))
            << "  p99 " << duration_text(static_cast<double>(s.p99)) << "  p99.9 " << duration_text(static_cast<double>(s.p999)) << "  max "
            << duration_text(static_cast<double>(s.max)) << "  mean " << duration_text(s.mean) << "\n";
    };
    row("latency (from due)  ", r.latency);
    row("service (from sent) ", r.service);
    out << "  generator CPU " << std::setprecision(3) << r.cpu_s << " s (" << std::setprecision(1)
        << (r.wall_s > 0 ? 100 * r.cpu_s / r.wall_s : 0.0) << "% of one CPU)\n";
    if (r.behind)
        out << "  BEHIND SCHEDULE: " << r.behind_reason << "\n";
    return out.str();
}

} // namespace cvp::load
