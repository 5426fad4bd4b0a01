/// /stats/timeline in every model, from what the server reports: with --timeline N the
/// rings hold the intervals the responses reported (worker, start, end, kind, target,
/// connection), overwrite and count past their capacity, and filter by `since`; without
/// it the endpoint says that recording is off. No assertion depends on the machine's speed.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cvp::test {
namespace {

using json = nlohmann::json;

/// Short CPU work: long enough to have a real interval, short enough under sanitizers.
constexpr char const* cpu_target = "/cpu/pbkdf2?iterations=2000";
constexpr char const* sleep_target = "/io/sleep?ms=20";
constexpr char const* block_target = "/io/block?ms=5";
constexpr char const* split_target = "/cpu/primes?limit=200000&split=2";

/// GET /stats/timeline (with `query`) on a fresh connection; expects 200.
json timeline(std::uint16_t port, std::string const& query = "")
{
    http_client client{port};
    auto const r = client.get("/stats/timeline" + query);
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json();
}

/// The row of worker `id`.
json row_of(json const& dump, int id)
{
    for (auto const& w : dump.at("workers"))
        if (w.at("id") == id)
            return w;
    ADD_FAILURE() << "no worker " << id << " in " << dump.dump();
    return json::object();
}

/// The event of worker `id` with `kind` and `target` that began at `start_ns`, if any.
std::optional<json> event_at(json const& dump, int id, std::string const& kind, std::string const& target, std::int64_t start_ns)
{
    for (auto const& e : row_of(dump, id).value("events", json::array()))
        if (e.at("kind") == kind && e.at("target") == target && e.at("start_ns") == start_ns)
            return e;
    return std::nullopt;
}

/// The number of milliseconds in `name;dur=` of a Server-Timing header.
double timing_ms(std::string const& header, std::string const& name)
{
    auto const at = header.find(name + ";dur=");
    EXPECT_NE(at, std::string::npos) << header;
    return at == std::string::npos ? -1 : std::stod(header.substr(at + name.size() + 5));
}

/// Expects `dump` to hold the interval of `body` as an event of `kind` for `target`, on
/// the worker the body names, whose row has the kind `worker_kind`; returns the event.
json expect_event(json const& dump, json const& body, std::string const& kind, std::string const& target, std::string const& worker_kind)
{
    auto const w = interval_of(body);
    EXPECT_EQ(row_of(dump, w.worker).value("kind", ""), worker_kind) << body;
    auto const e = event_at(dump, w.worker, kind, target, w.start_ns);
    EXPECT_TRUE(e.has_value()) << kind << " " << target << " " << body << " not in " << dump.dump();
    if (!e)
        return json::object();
    EXPECT_EQ(e->at("end_ns"), w.end_ns) << *e;
    return *e;
}

class timeline_models : public ::testing::TestWithParam<std::string>
{
};

TEST_P(timeline_models, holds_the_intervals_the_responses_reported)
{
    auto const mode = GetParam();
    server_process server{{"--mode", mode, "--timeline", "64"}};
    http_client client{server.port()};

    // CPU, a wait, blocking work and a split on one connection; each answer says where and when.
    auto const cpu = client.get(cpu_target);
    auto const sleep = client.get(sleep_target);
    auto const block = client.get(block_target);
    auto const split = client.get(split_target);
    for (auto const* r : {&cpu, &sleep, &block, &split})
        ASSERT_EQ(r->status, 200u) << r->body;
    auto const dump = timeline(server.port());
    EXPECT_EQ(dump.at("model"), mode);
    EXPECT_EQ(dump.at("recording"), true);
    EXPECT_EQ(dump.at("events_per_worker"), 64);
    EXPECT_GE(dump.at("now_ns").get<std::int64_t>(), interval_of(split.json()).end_ns);

    // Each interval is there, as the body and Server-Timing reported it, in the row of the
    // worker that ran it: CPU and blocking work where the model runs work, the wait where
    // it serves connections.
    auto const cpu_event = expect_event(dump, cpu.json(), "cpu", cpu_target, work_kind(mode));
    auto const duration_ms = static_cast<double>(interval_of(cpu.json()).end_ns - interval_of(cpu.json()).start_ns) / 1e6;
    EXPECT_NEAR(timing_ms(cpu.header("server-timing"), "work"), duration_ms, 0.0011) << cpu.header("server-timing");
    auto const sleep_event = expect_event(dump, sleep.json(), "io-wait", sleep_target, serving_kind(mode));
    auto const block_event = expect_event(dump, block.json(), "blocking", block_target, work_kind(mode));
    // A named body: a range-for over a member of a temporary would outlive it.
    auto const split_body = split.json();
    for (auto const& chunk : split_body.at("chunks"))
        expect_event(dump, chunk, "cpu", split_target, work_kind(mode));

    // One connection, one id; another connection, another id.
    EXPECT_EQ(cpu_event.value("connection", json()), sleep_event.value("connection", json()));
    EXPECT_EQ(cpu_event.value("connection", json()), block_event.value("connection", json()));
    http_client other{server.port()};
    auto const again = other.get(cpu_target);
    ASSERT_EQ(again.status, 200u) << again.body;
    auto const other_event = expect_event(timeline(server.port()), again.json(), "cpu", cpu_target, work_kind(mode));
    EXPECT_NE(other_event.value("connection", json()), cpu_event.value("connection", json()));

    // Nothing else was recorded: four requests' intervals, two of them the split's chunks.
    std::uint64_t recorded = 0;
    for (auto const& w : dump.at("workers"))
        recorded += w.at("recorded").get<std::uint64_t>();
    EXPECT_EQ(recorded, 5u) << dump.dump();
}

TEST_P(timeline_models, a_ring_overwrites_its_oldest_past_its_capacity_and_counts_them)
{
    auto const mode = GetParam();
    // One thread runs handler work in every model: the flags that size the others' are ignored.
    server_process server{{"--mode", mode, "--threads", "1", "--pool-threads", "1", "--timeline", "3"}};
    http_client client{server.port()};

    // Five pieces of CPU work on one thread that runs work: the ring keeps the last three.
    std::vector<interval> done;
    for (int i = 0; i < 5; ++i) {
        auto const r = client.get(cpu_target);
        ASSERT_EQ(r.status, 200u) << r.body;
        done.push_back(interval_of(r.json()));
        ASSERT_EQ(done.back().worker, done.front().worker) << "one thread runs the work";
    }
    auto const row = row_of(timeline(server.port()), done.front().worker);
    EXPECT_EQ(row.value("recorded", 0), 5) << row;
    EXPECT_EQ(row.value("overwritten", 0), 2) << row;
    auto const events = row.value("events", json::array());
    ASSERT_EQ(events.size(), 3u) << row;
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(events[i].at("start_ns"), done[i + 2].start_ns) << row;
        EXPECT_EQ(events[i].at("end_ns"), done[i + 2].end_ns) << row;
    }
}

TEST_P(timeline_models, since_keeps_the_events_that_ended_at_or_after_it)
{
    auto const mode = GetParam();
    server_process server{{"--mode", mode, "--timeline", "16"}};
    http_client client{server.port()};
    std::vector<interval> done;
    for (int i = 0; i < 3; ++i) {
        auto const r = client.get(cpu_target);
        ASSERT_EQ(r.status, 200u) << r.body;
        done.push_back(interval_of(r.json()));
    }

    // Counts the events, over every worker, in the answer since `since`.
    auto const events_since = [&](std::int64_t since) {
        auto const dump = timeline(server.port(), "?since=" + std::to_string(since));
        EXPECT_EQ(dump.value("since_ns", std::int64_t{-1}), since);
        std::size_t n = 0;
        for (auto const& w : dump.at("workers"))
            for (auto const& e : w.at("events")) {
                EXPECT_GE(e.at("end_ns").get<std::int64_t>(), since) << e;
                ++n;
            }
        return n;
    };
    // The requests ran one after another: each later one began after the one before ended.
    EXPECT_EQ(events_since(0), 3u);
    EXPECT_EQ(events_since(done[1].start_ns), 2u);
    EXPECT_EQ(events_since(done[1].end_ns), 2u);
    EXPECT_EQ(events_since(done[1].end_ns + 1), 1u);
    EXPECT_EQ(events_since(done[2].end_ns + 1), 0u);
}

TEST_P(timeline_models, a_bad_since_is_400_naming_it)
{
    server_process server{{"--mode", GetParam(), "--timeline", "4"}};
    http_client client{server.port()};
    for (auto const* query : {"?since=-1", "?since=soon", "?since=9223372036854775808", "?since=1&since=2", "?sinse=1"}) {
        auto const r = client.get(std::string{"/stats/timeline"} + query);
        EXPECT_EQ(r.status, 400u) << query << ": " << r.body;
        auto const body = r.json();
        EXPECT_EQ(body.value("parameter", ""), std::string{query}.starts_with("?sinse") ? "sinse" : "since") << query << ": " << r.body;
    }
}

TEST_P(timeline_models, without_the_flag_the_endpoint_says_recording_is_off)
{
    server_process server{{"--mode", GetParam()}};
    http_client client{server.port()};
    ASSERT_EQ(client.get(cpu_target).status, 200u);
    ASSERT_EQ(client.get(sleep_target).status, 200u);

    // 409, naming the flag: there are no rings to read, so nothing was recorded.
    auto const r = client.get("/stats/timeline");
    EXPECT_EQ(r.status, 409u) << r.body;
    auto const body = r.json();
    EXPECT_EQ(body.value("recording", true), false) << r.body;
    EXPECT_EQ(body.value("model", ""), GetParam()) << r.body;
    EXPECT_NE(body.value("error", "").find("--timeline N"), std::string::npos) << r.body;
    // Parameters are still checked first.
    EXPECT_EQ(client.get("/stats/timeline?since=x").status, 400u);
}

INSTANTIATE_TEST_SUITE_P(all_models, timeline_models, ::testing::ValuesIn(all_modes()));

TEST(timeline_single, cpu_events_on_its_one_loop_never_overlap)
{
    server_process server{{"--mode", "single", "--timeline", "64"}};
    // Four connections wait at once; the one loop runs their work one at a time.
    std::vector<std::unique_ptr<http_client>> clients;
    for (int i = 0; i < 4; ++i)
        clients.push_back(std::make_unique<http_client>(server.port()));
    for (auto& c : clients)
        c->send("/cpu/pbkdf2?iterations=20000");
    for (auto& c : clients)
        ASSERT_EQ(c->read_reply().status, 200u);

    auto const events = row_of(timeline(server.port()), 0).value("events", json::array());
    ASSERT_EQ(events.size(), 4u) << events;
    for (std::size_t i = 0; i < events.size(); ++i)
        for (std::size_t j = i + 1; j < events.size(); ++j) {
            interval const a{0, events[i].at("start_ns"), events[i].at("end_ns")};
            interval const b{0, events[j].at("start_ns"), events[j].at("end_ns")};
            EXPECT_FALSE(overlap(a, b)) << events[i] << "\n" << events[j];
        }
    // And four connections, four ids.
    std::set<std::uint64_t> connections;
    for (auto const& e : events)
        connections.insert(e.at("connection").get<std::uint64_t>());
    EXPECT_EQ(connections.size(), 4u) << events;
}

} // namespace
} // namespace cvp::test
