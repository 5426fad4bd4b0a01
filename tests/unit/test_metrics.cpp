#include "handlers/metrics.hpp"

#include "tests/unit/stats_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
using cvp::prometheus_text;

/// The /stats document of docs/API.md (offload, so `pool` is set).
json offload_stats()
{
    return cvp::test::api_stats();
}

/// The same shape for `reactors` with two pinned loops: `pool` is null.
json reactors_stats()
{
    auto s = offload_stats();
    s["mode"] = "reactors";
    s["draining"] = true;
    s["cpu"]["pinned"] = json::array({0, 1});
    s["workers"] = json::parse(R"([
        {"id": 0, "role": "loop", "cpu": 0, "requests": 123, "requests_in_flight": 2, "connections_open": 4,
         "connections_total": 9, "tasks": 11, "busy_ns": 1500000000},
        {"id": 1, "role": "loop", "cpu": 1, "requests": 456, "requests_in_flight": 0, "connections_open": 5,
         "connections_total": 8, "tasks": 12, "busy_ns": 2500000000}
    ])");
    s["pool"] = nullptr;
    s["totals"]["connections_rejected"] = 17;
    return s;
}

/// One sample line: `name{labels} value` or `name value`.
struct sample
{
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

/// A parsed exposition: samples in order, and the HELP and TYPE of each family.
struct exposition
{
    std::vector<sample> samples;
    std::map<std::string, std::string> help;
    std::map<std::string, std::string> type;
    /// Lines that are neither a comment nor a well-formed sample.
    std::vector<std::string> malformed;
    /// Samples that came before their family's TYPE line.
    std::vector<std::string> untyped;
};

/// A Prometheus sample value: a float, or NaN/+Inf/-Inf.
std::optional<double> parse_value(std::string const& text)
{
    if (text == "NaN")
        return std::nan("");
    if (text == "+Inf")
        return HUGE_VAL;
    if (text == "-Inf")
        return -HUGE_VAL;
    char* end = nullptr;
    double const v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size())
        return std::nullopt;
    return v;
}

/// Parses the text format, version 0.0.4, strictly enough to catch a broken line.
exposition parse(std::string const& text)
{
    static std::regex const sample_line{R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$)"};
    static std::regex const label{R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\"(,|$))"};
    static std::regex const comment{R"(^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$)"};

    exposition out;
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, comment)) {
            (m[1] == "HELP" ? out.help : out.type)[m[2]] = m[3];
            continue;
        }
        if (!std::regex_match(line, m, sample_line)) {
            out.malformed.push_back(line);
            continue;
        }
        auto const value = parse_value(m[4]);
        if (!value) {
            out.malformed.push_back(line);
            continue;
        }
        sample s{m[1], {}, *value};
        // Labels must cover the whole brace content: name="value" pairs, comma-separated.
        std::string const labels = m[3];
        std::size_t consumed = 0;
        for (std::sregex_iterator it{labels.begin(), labels.end(), label}, end; it != end; ++it) {
            if (static_cast<std::size_t>(it->position()) != consumed)
                break;
            s.labels[(*it)[1]] = (*it)[2];
            consumed += static_cast<std::size_t>(it->length());
        }
        if (consumed != labels.size()) {
            out.malformed.push_back(line);
            continue;
        }
        if (!out.type.contains(s.name))
            out.untyped.push_back(line);
        out.samples.push_back(std::move(s));
    }
    return out;
}

/// The samples named `name`.
std::vector<sample> named(exposition const& e, std::string const& name)
{
    std::vector<sample> out;
    for (auto const& s : e.samples)
        if (s.name == name)
            out.push_back(s);
    return out;
}

/// The value of the single sample `name` with `worker` label `worker` (or no worker label).
std::optional<double> value_of(exposition const& e, std::string const& name, std::optional<int> worker = std::nullopt)
{
    for (auto const& s : named(e, name)) {
        auto it = s.labels.find("worker");
        if (!worker && it == s.labels.end())
            return s.value;
        if (worker && it != s.labels.end() && it->second == std::to_string(*worker))
            return s.value;
    }
    return std::nullopt;
}

//------------------------------------------------------------------------------

TEST(PrometheusText, EveryLineIsWellFormed)
{
    for (auto const& stats : {offload_stats(), reactors_stats()}) {
        auto const text = prometheus_text(stats);
        SCOPED_TRACE(text);
        ASSERT_FALSE(text.empty());
        EXPECT_EQ(text.back(), '\n') << "the format ends every line with a newline";
        auto const e = parse(text);
        EXPECT_TRUE(e.malformed.empty()) << "first malformed line: " << (e.malformed.empty() ? "" : e.malformed.front());
        EXPECT_TRUE(e.untyped.empty()) << "first sample before its TYPE: " << (e.untyped.empty() ? "" : e.untyped.front());
        EXPECT_GT(e.samples.size(), 10u);
    }
}

TEST(PrometheusText, EveryFamilyHasHelpAndType)
{
    auto const e = parse(prometheus_text(offload_stats()));
    std::set<std::string> families;
    for (auto const& s : e.samples)
        families.insert(s.name);
    for (auto const& name : families) {
        EXPECT_TRUE(e.help.contains(name)) << name;
        ASSERT_TRUE(e.type.contains(name)) << name;
        EXPECT_TRUE(e.type.at(name) == "counter" || e.type.at(name) == "gauge") << name << ": " << e.type.at(name);
    }
    // And no HELP or TYPE for a family without samples.
    for (auto const& [name, type] : e.type)
        EXPECT_TRUE(families.contains(name)) << name;
    EXPECT_EQ(e.help.size(), e.type.size());
}

TEST(PrometheusText, CountersEndInTotal)
{
    auto const e = parse(prometheus_text(offload_stats()));
    for (auto const& [name, type] : e.type) {
        if (type == "counter") {
            EXPECT_TRUE(name.ends_with("_total")) << name;
        }
    }
    EXPECT_EQ(e.type.at("cvp_requests_total"), "counter");
    EXPECT_EQ(e.type.at("cvp_connections_open"), "gauge");
}

TEST(PrometheusText, HelpAndTypeLinesForRequests)
{
    auto const text = prometheus_text(offload_stats());
    EXPECT_NE(text.find("# HELP cvp_requests_total "), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE cvp_requests_total counter\n"), std::string::npos) << text;
}

TEST(PrometheusText, OneSeriesPerWorkerWithLabels)
{
    auto const e = parse(prometheus_text(offload_stats()));
    for (char const* name :
         {"cvp_requests_total", "cvp_connections_open", "cvp_connections_total", "cvp_work_tasks_total", "cvp_work_busy_seconds_total"}) {
        SCOPED_TRACE(name);
        auto const series = named(e, name);
        ASSERT_EQ(series.size(), 2u);
        EXPECT_EQ(series[0].labels, (std::map<std::string, std::string>{{"mode", "offload"}, {"worker", "0"}, {"role", "loop"}}));
        EXPECT_EQ(series[1].labels, (std::map<std::string, std::string>{{"mode", "offload"}, {"worker", "1"}, {"role", "pool"}}));
    }
}

TEST(PrometheusText, WorkerValuesComeFromStats)
{
    auto const e = parse(prometheus_text(offload_stats()));
    EXPECT_EQ(value_of(e, "cvp_requests_total", 0), 10.0);
    EXPECT_EQ(value_of(e, "cvp_requests_total", 1), 0.0);
    EXPECT_EQ(value_of(e, "cvp_connections_open", 0), 1.0);
    EXPECT_EQ(value_of(e, "cvp_connections_total", 0), 3.0);
    EXPECT_EQ(value_of(e, "cvp_work_tasks_total", 1), 7.0);
    EXPECT_DOUBLE_EQ(value_of(e, "cvp_work_busy_seconds_total", 1).value_or(-1), 0.07) << "busy_ns in seconds";
    EXPECT_EQ(value_of(e, "cvp_work_busy_seconds_total", 0), 0.0);
}

TEST(PrometheusText, ReactorsWorkers)
{
    auto const e = parse(prometheus_text(reactors_stats()));
    EXPECT_EQ(value_of(e, "cvp_requests_total", 0), 123.0);
    EXPECT_EQ(value_of(e, "cvp_requests_total", 1), 456.0);
    EXPECT_DOUBLE_EQ(value_of(e, "cvp_work_busy_seconds_total", 0).value_or(-1), 1.5);
    EXPECT_DOUBLE_EQ(value_of(e, "cvp_work_busy_seconds_total", 1).value_or(-1), 2.5);
    for (auto const& s : named(e, "cvp_requests_total")) {
        EXPECT_EQ(s.labels.at("mode"), "reactors");
        EXPECT_EQ(s.labels.at("role"), "loop");
    }
}

TEST(PrometheusText, ProcessWideSeries)
{
    auto const e = parse(prometheus_text(offload_stats()));
    EXPECT_EQ(value_of(e, "cvp_connections_rejected_total"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_draining"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_usable_cpus"), 2.0);
    EXPECT_DOUBLE_EQ(value_of(e, "process_cpu_seconds_total").value_or(-1), 1.75) << "user + system";
    EXPECT_EQ(value_of(e, "process_resident_memory_bytes"), 7340032.0);
    EXPECT_EQ(e.type.at("process_cpu_seconds_total"), "counter");
    EXPECT_EQ(e.type.at("process_resident_memory_bytes"), "gauge");
}

TEST(PrometheusText, DrainingIsOneAndRejectionsAreCounted)
{
    auto const e = parse(prometheus_text(reactors_stats()));
    EXPECT_EQ(value_of(e, "cvp_draining"), 1.0);
    EXPECT_EQ(value_of(e, "cvp_connections_rejected_total"), 17.0);
}

TEST(PrometheusText, PoolSeriesWhenPoolIsSet)
{
    auto const e = parse(prometheus_text(offload_stats()));
    EXPECT_EQ(value_of(e, "cvp_pool_threads"), 2.0);
    EXPECT_EQ(value_of(e, "cvp_pool_queue_capacity"), 256.0);
    EXPECT_EQ(value_of(e, "cvp_pool_queue_depth"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_pool_running"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_pool_completed_total"), 7.0);
    EXPECT_EQ(value_of(e, "cvp_pool_rejected_total"), 0.0);
    EXPECT_EQ(e.type.at("cvp_pool_completed_total"), "counter");
    EXPECT_EQ(e.type.at("cvp_pool_queue_depth"), "gauge");
}

TEST(PrometheusText, NoPoolSeriesWhenPoolIsNull)
{
    auto const text = prometheus_text(reactors_stats());
    EXPECT_EQ(text.find("cvp_pool_"), std::string::npos) << text;
    auto const e = parse(text);
    EXPECT_FALSE(e.samples.empty());
    EXPECT_TRUE(named(e, "cvp_pool_threads").empty());
}

TEST(PrometheusText, NoSeriesIsRepeated)
{
    auto const e = parse(prometheus_text(offload_stats()));
    std::set<std::pair<std::string, std::map<std::string, std::string>>> seen;
    for (auto const& s : e.samples)
        EXPECT_TRUE(seen.emplace(s.name, s.labels).second) << "duplicate series " << s.name;
}

TEST(PrometheusText, NoWorkersStillHasTheProcessSeries)
{
    auto stats = reactors_stats();
    stats["workers"] = json::array();
    auto const e = parse(prometheus_text(stats));
    EXPECT_TRUE(e.malformed.empty());
    EXPECT_TRUE(named(e, "cvp_requests_total").empty());
    EXPECT_TRUE(e.type.contains("cvp_requests_total")) << "the family is still declared";
    EXPECT_EQ(value_of(e, "cvp_usable_cpus"), 2.0);
}

// /metrics should report the same figures as /stats (metrics.hpp). Seconds written through
// an ostream with its default precision (6 significant digits) lose everything past
// the sixth digit: 1234.567890123 s of busy time becomes 1234.57.
TEST(PrometheusText, SecondsKeepTheirPrecision)
{
    auto stats = offload_stats();
    stats["workers"][1]["busy_ns"] = 1'234'567'890'123;
    stats["process"]["cpu_user_s"] = 12345.678;
    stats["process"]["cpu_system_s"] = 0.001;
    auto const e = parse(prometheus_text(stats));
    EXPECT_NEAR(value_of(e, "cvp_work_busy_seconds_total", 1).value_or(-1), 1234.567890123, 1e-6);
    EXPECT_NEAR(value_of(e, "process_cpu_seconds_total").value_or(-1), 12345.679, 1e-6);
}

} // namespace
