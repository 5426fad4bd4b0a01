#include "handlers/metrics.hpp"

#include "tests/unit/stats_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using json = nlohmann::json;
using cvp::prometheus_text;

using cvp::stats_snapshot;
using cvp::worker_snapshot;

/// The /stats snapshot of docs/API.md (offload, so `pool` is set).
stats_snapshot offload_stats()
{
    return cvp::test::api_stats();
}

/// A reactors loop with its own connections.
worker_snapshot reactor_loop(int id, std::uint64_t requests, std::uint64_t open, std::uint64_t total, std::uint64_t tasks,
                             std::uint64_t busy_ns)
{
    worker_snapshot w;
    w.id = id;
    w.kind = "loop";
    w.cpu = id;
    w.requests = requests;
    w.tasks = tasks;
    w.busy_ns = busy_ns;
    w.connections = worker_snapshot::connection_gauges{open, total, 0};
    return w;
}

/// The same shape for `reactors` with two pinned loops: `pool` is null.
stats_snapshot reactors_stats()
{
    auto s = offload_stats();
    s.mode = "reactors";
    s.draining = true;
    s.cpu.pinned = {0, 1};
    s.workers = {reactor_loop(0, 123, 4, 9, 11, 1500000000), reactor_loop(1, 456, 5, 8, 12, 2500000000)};
    s.pool.reset();
    s.totals.connections_rejected = 17;
    return s;
}

/// `pool` with two threads: connections belong to the shared loop, not to a thread.
stats_snapshot pool_stats()
{
    auto s = reactors_stats();
    s.mode = "pool";
    for (auto& w : s.workers) {
        w.kind = "pool-thread";
        w.connections.reset();
    }
    s.totals.connections_open = 9;
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
    if (text.empty() || std::isspace(static_cast<unsigned char>(text.front())))
        return std::nullopt; // strtod would skip leading blanks the format does not allow
    char* end = nullptr;
    double const v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size())
        return std::nullopt;
    return v;
}

/// A cursor over one line of the exposition, for a strict hand-written parse.
class line_reader
{
public:
    explicit line_reader(std::string_view line)
        : rest_{line}
    {}

    bool at_end() const { return rest_.empty(); }

    /// Consumes `text` if the line continues with it.
    bool take(std::string_view text)
    {
        if (!rest_.starts_with(text))
            return false;
        rest_.remove_prefix(text.size());
        return true;
    }

    /// A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), or a label name when `colons` is false.
    std::optional<std::string> name(bool colons = true)
    {
        auto const first = [&](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colons && c == ':'); };
        auto const next = [&](char c) { return first(c) || std::isdigit(static_cast<unsigned char>(c)); };
        if (rest_.empty() || !first(rest_.front()))
            return std::nullopt;
        std::size_t n = 1;
        while (n < rest_.size() && next(rest_[n]))
            ++n;
        return split(n);
    }

    /// A double-quoted label value with backslash escapes, returned as written.
    std::optional<std::string> quoted()
    {
        if (!take("\""))
            return std::nullopt;
        for (std::size_t n = 0; n < rest_.size(); ++n) {
            if (rest_[n] == '\\') {
                ++n;
                continue;
            }
            if (rest_[n] == '"') {
                auto value = split(n);
                rest_.remove_prefix(1);
                return value;
            }
        }
        return std::nullopt;
    }

    /// Everything up to the next space (or the end); empty if there is nothing.
    std::string word() { return split(std::min(rest_.find(' '), rest_.size())); }

    /// The rest of the line.
    std::string remainder() { return split(rest_.size()); }

private:
    std::string split(std::size_t n)
    {
        std::string head{rest_.substr(0, n)};
        rest_.remove_prefix(n);
        return head;
    }

    std::string_view rest_;
};

/// `name="value"` pairs, comma-separated (a trailing comma allowed), up to the closing brace.
std::optional<std::map<std::string, std::string>> parse_labels(line_reader& in)
{
    std::map<std::string, std::string> labels;
    if (in.take("}"))
        return labels;
    for (;;) {
        auto const key = in.name(false);
        if (!key || !in.take("="))
            return std::nullopt;
        auto const value = in.quoted();
        if (!value)
            return std::nullopt;
        labels[*key] = *value;
        if (in.take("}"))
            return labels;
        if (!in.take(","))
            return std::nullopt;
        if (in.take("}"))
            return labels;
    }
}

/// `# HELP name text` or `# TYPE name type`, as (kind, name, text).
std::optional<std::array<std::string, 3>> parse_comment(std::string_view line)
{
    line_reader in{line};
    for (std::string_view kind : {"HELP", "TYPE"}) {
        if (!in.take("# ") || !in.take(kind) || !in.take(" ")) {
            in = line_reader{line};
            continue;
        }
        auto const name = in.name();
        if (!name || !in.take(" ") || in.at_end())
            return std::nullopt;
        return std::array<std::string, 3>{std::string{kind}, *name, in.remainder()};
    }
    return std::nullopt;
}

/// `name{labels} value` or `name value`. The format allows a timestamp after the value;
/// cvp never writes one, so here it counts as malformed.
std::optional<sample> parse_sample(std::string_view line)
{
    line_reader in{line};
    auto const name = in.name();
    if (!name)
        return std::nullopt;
    sample s{*name, {}, 0};
    if (in.take("{")) {
        auto labels = parse_labels(in);
        if (!labels)
            return std::nullopt;
        s.labels = std::move(*labels);
    }
    if (!in.take(" "))
        return std::nullopt;
    auto const value = parse_value(in.word());
    if (!value || !in.at_end())
        return std::nullopt;
    s.value = *value;
    return s;
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` samples
/// belong to the family whose TYPE says histogram; any other sample to its own name.
std::string family_of(exposition const& e, std::string const& sample_name)
{
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (!sample_name.ends_with(suffix))
            continue;
        auto const base = sample_name.substr(0, sample_name.size() - suffix.size());
        if (auto it = e.type.find(base); it != e.type.end() && it->second == "histogram")
            return base;
    }
    return sample_name;
}

/// Parses the text format, version 0.0.4, strictly enough to catch a broken line.
/// (By hand, not std::regex: libstdc++'s regex trips g++ 12's -Wmaybe-uninitialized
/// under ASan, which -Werror turns into a failed build.)
exposition parse(std::string const& text)
{
    exposition out;
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("#")) {
            auto const c = parse_comment(line);
            if (!c)
                out.malformed.push_back(line);
            else
                ((*c)[0] == "HELP" ? out.help : out.type)[(*c)[1]] = (*c)[2];
            continue;
        }
        auto s = parse_sample(line);
        if (!s) {
            out.malformed.push_back(line);
            continue;
        }
        if (!out.type.contains(family_of(out, s->name)))
            out.untyped.push_back(line);
        out.samples.push_back(std::move(*s));
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

// The checks below lean on this parser; it must tell a broken line from a good one.
TEST(ExpositionParser, AcceptsGoodLinesAndRejectsBrokenOnes)
{
    auto const good = parse("# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n"
                            "a_total{worker=\"0\",role=\"lo\\\"op\"} +Inf\nb{x=\"}\",} 1.5e3\n");
    EXPECT_TRUE(good.malformed.empty()) << good.malformed.front();
    ASSERT_EQ(good.samples.size(), 3u);
    EXPECT_EQ(good.samples[1].labels.at("role"), "lo\\\"op");
    EXPECT_EQ(good.samples[2].labels.at("x"), "}");
    EXPECT_EQ(good.samples[2].value, 1500.0);
    EXPECT_EQ(good.untyped, std::vector<std::string>{"b{x=\"}\",} 1.5e3"});

    for (std::string const line : {"1a 3", "a  3", "a 3 4", "a 3x", "a{w=0} 1", "a{w=\"0\" v=\"1\"} 1", "a{w=\"0} 1", "a{=\"0\"} 1",
                                   "a{w=\"0\"}1", "a", "a \t3", "# TYPE a", "# HELP 1a x"}) {
        auto const e = parse(line + "\n");
        EXPECT_EQ(e.malformed, std::vector<std::string>{line});
    }
}

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
        families.insert(family_of(e, s.name));
    for (auto const& name : families) {
        EXPECT_TRUE(e.help.contains(name)) << name;
        ASSERT_TRUE(e.type.contains(name)) << name;
        auto const& type = e.type.at(name);
        EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << name << ": " << type;
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
    for (char const* name : {"cvp_requests_total", "cvp_work_tasks_total", "cvp_work_busy_seconds_total"}) {
        SCOPED_TRACE(name);
        auto const series = named(e, name);
        ASSERT_EQ(series.size(), 2u);
        EXPECT_EQ(series[0].labels, (std::map<std::string, std::string>{{"mode", "offload"}, {"worker", "0"}, {"kind", "loop"}}));
        EXPECT_EQ(series[1].labels, (std::map<std::string, std::string>{{"mode", "offload"}, {"worker", "1"}, {"kind", "pool-thread"}}));
    }
    // Connection gauges only for the worker that owns connections: the loop.
    for (char const* name : {"cvp_connections_open", "cvp_connections_total", "cvp_requests_in_flight"}) {
        SCOPED_TRACE(name);
        auto const series = named(e, name);
        ASSERT_EQ(series.size(), 1u);
        EXPECT_EQ(series[0].labels.at("worker"), "0");
    }
}

TEST(PrometheusText, PoolHasNoPerThreadConnectionGaugesButATotal)
{
    auto const e = parse(prometheus_text(pool_stats()));
    EXPECT_TRUE(named(e, "cvp_connections_open").empty());
    EXPECT_EQ(named(e, "cvp_requests_total").size(), 2u);
    EXPECT_EQ(value_of(e, "cvp_connections_open_total"), 9.0);
    for (auto const& s : named(e, "cvp_requests_total"))
        EXPECT_EQ(s.labels.at("kind"), "pool-thread");
}

TEST(PrometheusText, ModelFigures)
{
    auto stats = offload_stats();
    stats.parallelism = 3;
    stats.threads_alive = 4;
    auto const e = parse(prometheus_text(stats));
    EXPECT_EQ(value_of(e, "cvp_parallelism"), 3.0);
    EXPECT_EQ(value_of(e, "cvp_threads_alive"), 4.0);
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
        EXPECT_EQ(s.labels.at("kind"), "loop");
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
    EXPECT_EQ(value_of(e, "cvp_pool_threads"), 1.0);
    EXPECT_EQ(value_of(e, "cvp_pool_queue_capacity"), 256.0);
    EXPECT_EQ(value_of(e, "cvp_pool_queue_depth"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_pool_running"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_pool_completed_total"), 7.0);
    EXPECT_EQ(value_of(e, "cvp_pool_rejected_total"), 0.0);
    EXPECT_EQ(value_of(e, "cvp_pool_nice_below_loop"), 10.0);
    EXPECT_EQ(e.type.at("cvp_pool_completed_total"), "counter");
    EXPECT_EQ(e.type.at("cvp_pool_queue_depth"), "gauge");
    // The queue wait as a histogram: cumulative buckets, +Inf equal to the count, the sum.
    EXPECT_EQ(e.type.at("cvp_pool_queue_wait_seconds"), "histogram");
    EXPECT_EQ(value_of(e, "cvp_pool_queue_wait_seconds_count"), 7.0);
    EXPECT_EQ(value_of(e, "cvp_pool_queue_wait_seconds_sum"), 0.000056);
    auto const buckets = named(e, "cvp_pool_queue_wait_seconds_bucket");
    ASSERT_EQ(buckets.size(), 3u);
    EXPECT_EQ(std::stod(buckets[0].labels.at("le")), 0.0001);
    EXPECT_EQ(buckets[2].labels.at("le"), "+Inf");
    EXPECT_EQ(buckets[2].value, 7.0);
}

TEST(PrometheusText, EachWorkersLifeAndWaitForEventsAreCountersInSeconds)
{
    auto const e = parse(prometheus_text(offload_stats()));
    EXPECT_EQ(e.type.at("cvp_worker_thread_seconds_total"), "counter");
    EXPECT_EQ(e.type.at("cvp_worker_event_wait_seconds_total"), "counter");
    EXPECT_EQ(value_of(e, "cvp_worker_thread_seconds_total", 0), 12.5);
    EXPECT_EQ(value_of(e, "cvp_worker_event_wait_seconds_total", 0), 12.4);
    EXPECT_DOUBLE_EQ(*value_of(e, "cvp_worker_event_wait_seconds_total", 1), 12.43);
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
    stats.workers.clear();
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
    stats.workers[1].busy_ns = 1'234'567'890'123;
    stats.process.cpu_user_s = 12345.678;
    stats.process.cpu_system_s = 0.001;
    auto const e = parse(prometheus_text(stats));
    EXPECT_NEAR(value_of(e, "cvp_work_busy_seconds_total", 1).value_or(-1), 1234.567890123, 1e-6);
    EXPECT_NEAR(value_of(e, "process_cpu_seconds_total").value_or(-1), 12345.679, 1e-6);
}

// Counters are whole numbers: they print as integers, every digit kept, not as 1e+07
// (what the shortest form of a double gives).
TEST(PrometheusText, WholeNumbersPrintAsIntegers)
{
    auto stats = reactors_stats();
    stats.workers[0].requests = 10'000'000;
    stats.totals.connections_rejected = 123'456'789'012;
    auto const text = prometheus_text(stats);
    EXPECT_NE(text.find("cvp_requests_total{mode=\"reactors\",worker=\"0\",kind=\"loop\"} 10000000\n"), std::string::npos) << text;
    EXPECT_NE(text.find("cvp_connections_rejected_total{mode=\"reactors\"} 123456789012\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("e+"), std::string::npos) << text;
}

} // namespace
