/// Every endpoint, keep-alive, pipelining, HTTP/1.0 and HEAD, in every model.

#include "tests/integration/harness.hpp"

#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace cvp::test {
namespace {

using boost::beast::http::verb;

class endpoints : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
};

TEST_P(endpoints, startup_line_names_the_model)
{
    EXPECT_NE(server_.startup_line().find("mode=" + GetParam()), std::string::npos) << server_.startup_line();
    EXPECT_NE(server_.startup_line().find("usable="), std::string::npos);
    EXPECT_NE(server_.startup_line().find("cgroup="), std::string::npos);
}

TEST_P(endpoints, plaintext_and_json)
{
    http_client client{server_.port()};
    auto text = client.get("/plaintext");
    EXPECT_EQ(text.status, 200u);
    EXPECT_EQ(text.body, "Hello, World!");
    EXPECT_EQ(text.header("content-type"), "text/plain");

    auto json = client.get("/json");
    EXPECT_EQ(json.status, 200u);
    EXPECT_EQ(json.json(), (nlohmann::json{{"message", "Hello, World!"}}));
    EXPECT_EQ(json.header("content-type"), "application/json");
}

TEST_P(endpoints, every_response_carries_attribution)
{
    http_client client{server_.port()};
    for (auto const* target : {"/plaintext", "/json", "/healthz", "/cpu/pbkdf2?iterations=10", "/io/sleep?ms=1", "/nope"}) {
        auto r = client.get(target);
        EXPECT_EQ(r.header("x-mode"), GetParam()) << target;
        EXPECT_FALSE(r.header("x-worker").empty()) << target;
        auto const timing = r.header("server-timing");
        EXPECT_NE(timing.find("queue;dur="), std::string::npos) << target << ": " << timing;
        EXPECT_NE(timing.find("work;dur="), std::string::npos) << target << ": " << timing;
    }
}

TEST_P(endpoints, pbkdf2_matches_rfc7914_and_reports_its_work)
{
    http_client client{server_.port()};
    auto r = client.get("/cpu/pbkdf2?iterations=1&password=passwd&salt=salt&length=64");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto body = r.json();
    // RFC 7914, section 11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, dkLen=64.
    EXPECT_EQ(body["hash"], "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    EXPECT_EQ(body["mode"], GetParam());
    EXPECT_EQ(std::to_string(body["worker"].get<int>()), r.header("x-worker"));
    EXPECT_LE(body["start_ns"].get<std::int64_t>(), body["end_ns"].get<std::int64_t>());
    EXPECT_GE(body["cpu_ns"].get<std::int64_t>(), 0);
    EXPECT_GE(body["queue_ns"].get<std::int64_t>(), 0);
}

TEST_P(endpoints, primes_count_is_the_same_in_every_model_and_split)
{
    http_client client{server_.port()};
    for (int split : {1, 2, 4}) {
        auto r = client.get("/cpu/primes?limit=1000000&split=" + std::to_string(split));
        ASSERT_EQ(r.status, 200u) << r.body;
        auto body = r.json();
        EXPECT_EQ(body["count"], 78498);
        ASSERT_EQ(body["chunks"].size(), static_cast<std::size_t>(split));
        std::uint64_t lo = 2;
        for (auto const& chunk : body["chunks"]) {
            EXPECT_EQ(chunk["lo"], lo);
            lo = chunk["hi"].get<std::uint64_t>();
            EXPECT_TRUE(chunk.contains("worker") && chunk.contains("start_ns") && chunk.contains("end_ns"));
        }
        EXPECT_EQ(lo, 1000001u);
    }
}

TEST_P(endpoints, io_sleep_waits_on_the_serving_loop)
{
    http_client client{server_.port()};
    auto r = client.get("/io/sleep?ms=20");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto body = r.json();
    EXPECT_GE(body["end_ns"].get<std::int64_t>() - body["start_ns"].get<std::int64_t>(), 20'000'000);
    EXPECT_EQ(std::to_string(body["worker"].get<int>()), r.header("x-worker"));
    // A timer wait runs where connections are served, never on offload's CPU pool.
    auto s = stats(server_.port());
    EXPECT_EQ(s["workers"][body["worker"].get<std::size_t>()]["kind"], serving_kind(GetParam()));
}

TEST_P(endpoints, io_block_runs_where_the_model_runs_blocking_work)
{
    http_client client{server_.port()};
    auto r = client.get("/io/block?ms=20");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto body = r.json();
    EXPECT_GE(body["end_ns"].get<std::int64_t>() - body["start_ns"].get<std::int64_t>(), 20'000'000);
    auto s = stats(server_.port());
    EXPECT_EQ(s["workers"][body["worker"].get<std::size_t>()]["kind"], work_kind(GetParam()));
}

TEST_P(endpoints, mixed_sleeps_then_computes)
{
    http_client client{server_.port()};
    auto r = client.get("/mixed?ms=10&iterations=1000");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto body = r.json();
    EXPECT_GE(body["sleep"]["end_ns"].get<std::int64_t>() - body["sleep"]["start_ns"].get<std::int64_t>(), 10'000'000);
    EXPECT_LE(body["sleep"]["end_ns"].get<std::int64_t>(), body["start_ns"].get<std::int64_t>());
    EXPECT_EQ(body["hash"].get<std::string>().size(), 64u);
}

TEST_P(endpoints, health_readiness_stats_and_metrics)
{
    http_client client{server_.port()};
    EXPECT_EQ(client.get("/healthz").json(), (nlohmann::json{{"status", "ok"}}));
    EXPECT_EQ(client.get("/readyz").json(), (nlohmann::json{{"ready", true}}));

    client.get("/json");
    auto s = client.get("/stats").json();
    EXPECT_EQ(s["mode"], GetParam());
    EXPECT_GE(s["totals"]["requests"].get<int>(), 3);
    EXPECT_FALSE(s["draining"].get<bool>());
    EXPECT_GE(s["cpu"]["usable"].get<int>(), 1);
    // Each model's workers, by kind, and what it says of its parallelism.
    std::map<std::string, int> kinds;
    for (auto const& w : s["workers"])
        ++kinds[w["kind"].get<std::string>()];
    auto const& model = s["model"];
    EXPECT_EQ(model["name"], GetParam());
    EXPECT_FALSE(model["description"].get<std::string>().empty());
    auto const mode = GetParam();
    if (mode == "single") {
        EXPECT_EQ(kinds, (std::map<std::string, int>{{"loop", 1}}));
        EXPECT_EQ(model["parallelism"], 1);
        EXPECT_EQ(model["threads_alive"], 1);
    } else if (mode == "reactors") {
        EXPECT_EQ(kinds, (std::map<std::string, int>{{"loop", 2}}));
        EXPECT_EQ(model["parallelism"], 2);
        EXPECT_EQ(model["threads_alive"], 2);
    } else if (mode == "offload") {
        EXPECT_EQ(kinds, (std::map<std::string, int>{{"loop", 1}, {"pool-thread", 2}}));
        EXPECT_EQ(model["parallelism"], 2);
        EXPECT_EQ(model["threads_alive"], 3);
    } else if (mode == "pool") {
        EXPECT_EQ(kinds, (std::map<std::string, int>{{"pool-thread", 2}}));
        EXPECT_EQ(model["parallelism"], 2);
        EXPECT_EQ(model["threads_alive"], 2);
        // Connections belong to the shared loop: no thread reports them as its own.
        for (auto const& w : s["workers"])
            EXPECT_TRUE(w["connections_open"].is_null());
        EXPECT_EQ(s["totals"]["connections_open"], 1);
    } else {
        // The acceptor's loop, and a thread for this connection.
        EXPECT_EQ(kinds["loop"], 1);
        EXPECT_GE(kinds["connection-thread"], 1);
        EXPECT_EQ(model["parallelism"], s["limits"]["max_connections"]);
        EXPECT_EQ(model["threads_alive"], 2);
    }
    if (GetParam() == "offload") {
        EXPECT_EQ(s["pool"]["threads"], 2);
        EXPECT_EQ(s["pool"]["queue_capacity"], 256);
    } else {
        EXPECT_TRUE(s["pool"].is_null());
    }

    auto m = client.get("/metrics");
    EXPECT_EQ(m.status, 200u);
    auto const first_kind = GetParam() == "pool" ? "pool-thread" : "loop";
    EXPECT_NE(m.body.find("cvp_requests_total{mode=\"" + GetParam() + "\",worker=\"0\",kind=\"" + first_kind + "\"}"), std::string::npos)
        << m.body;
    EXPECT_EQ(m.body.find("cvp_pool_threads") != std::string::npos, GetParam() == "offload");
}

TEST_P(endpoints, keep_alive_serves_many_requests_on_one_connection)
{
    http_client client{server_.port()};
    for (int i = 0; i < 20; ++i) {
        auto r = client.get(i % 2 ? "/json" : "/plaintext");
        ASSERT_EQ(r.status, 200u);
        ASSERT_TRUE(r.keep_alive);
    }
    auto s = stats(server_.port());
    EXPECT_EQ(s["totals"]["connections_total"], 2); // this client and the stats request
}

TEST_P(endpoints, pipelined_requests_are_answered_in_order)
{
    http_client client{server_.port()};
    // A slow request first: a server that answered as work finished would reorder.
    client.send_raw("GET /io/sleep?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /cpu/pbkdf2?iterations=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
    auto first = client.read_reply();
    EXPECT_EQ(first.json()["ms"], 50);
    EXPECT_EQ(client.read_reply().body, "Hello, World!");
    EXPECT_EQ(client.read_reply().json()["iterations"], 10);
    EXPECT_EQ(client.read_reply().json()["message"], "Hello, World!");
}

TEST_P(endpoints, http10_closes_unless_asked_to_keep_alive)
{
    http_client plain{server_.port()};
    auto r = plain.request("/json", verb::get, 10);
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(plain.closed_by_server());

    http_client kept{server_.port()};
    auto k = kept.request("/json", verb::get, 10, {{"Connection", "keep-alive"}});
    EXPECT_TRUE(k.keep_alive);
    EXPECT_EQ(kept.request("/json", verb::get, 10, {{"Connection", "keep-alive"}}).status, 200u);
}

TEST_P(endpoints, connection_close_is_honoured)
{
    http_client client{server_.port()};
    auto r = client.request("/plaintext", verb::get, 11, {{"Connection", "close"}});
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(client.closed_by_server());
}

TEST_P(endpoints, head_has_the_headers_of_get_and_no_body)
{
    http_client client{server_.port()};
    auto get = client.get("/json");
    auto head = client.request("/json", verb::head);
    EXPECT_EQ(head.status, 200u);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.header("content-length"), get.header("content-length"));
    EXPECT_EQ(head.header("content-type"), "application/json");
    // The connection is still in step: the next reply parses.
    EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
}

INSTANTIATE_TEST_SUITE_P(all_models, endpoints, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
