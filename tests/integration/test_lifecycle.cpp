/// Timeouts, graceful drain and configuration, in every model.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

namespace cvp::test {
namespace {

using namespace std::chrono_literals;

class lifecycle : public ::testing::TestWithParam<std::string>
{
protected:
    std::vector<std::string> flags(std::vector<std::string> extra) const
    {
        std::vector<std::string> f{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"};
        f.insert(f.end(), extra.begin(), extra.end());
        return f;
    }
};

TEST_P(lifecycle, header_timeout_closes_a_slow_request_but_not_an_idle_connection)
{
    server_process server{flags({"--header-timeout", "300ms", "--idle-timeout", "60s"})};

    // Slowloris: a request that starts and never finishes is cut off.
    http_client slow{server.port()};
    slow.send_raw("GET /json HTTP/1.1\r\nHost: x\r\n");
    EXPECT_TRUE(slow.closed_by_server());

    // So is a connection that never sends its first request.
    http_client silent{server.port()};
    EXPECT_TRUE(silent.closed_by_server());

    // A kept-alive connection between requests falls under the idle timeout instead.
    http_client idle{server.port()};
    ASSERT_EQ(idle.get("/json").status, 200u);
    EXPECT_TRUE(idle.open_after(1500ms));
    EXPECT_EQ(idle.get("/json").status, 200u);
}

TEST_P(lifecycle, the_first_request_header_is_due_header_timeout_after_accept)
{
    // A restartable timer would give a connection that speaks late a second full
    // header-timeout for the rest of its header: 3.5 s here instead of 2 s.
    server_process server{flags({"--header-timeout", "2s", "--idle-timeout", "60s"})};
    http_client late{server.port()};
    std::this_thread::sleep_for(1500ms);
    late.send_raw("GET /json HTTP/1.1\r\n");
    EXPECT_TRUE(late.closed_by_server(1200ms));
}

TEST_P(lifecycle, idle_timeout_closes_a_quiet_keep_alive_connection_but_not_a_request_in_progress)
{
    server_process server{flags({"--header-timeout", "60s", "--idle-timeout", "300ms"})};

    http_client idle{server.port()};
    ASSERT_EQ(idle.get("/json").status, 200u);
    EXPECT_TRUE(idle.closed_by_server());

    // A request that has started is under the (long) header timeout, not the idle one.
    http_client slow{server.port()};
    ASSERT_EQ(slow.get("/json").status, 200u);
    slow.send_raw("GET /json HTTP/1.1\r\n");
    EXPECT_TRUE(slow.open_after(1500ms));
    slow.send_raw("Host: x\r\n\r\n");
    EXPECT_EQ(slow.read_reply().status, 200u);
}

TEST_P(lifecycle, sigterm_drains_in_flight_work_closes_idle_connections_and_exits_zero)
{
    server_process server{flags({"--drain-timeout", "15s"})};

    // An idle keep-alive connection, and one with a slow request plus a pipelined readiness check.
    http_client idle{server.port()};
    ASSERT_EQ(idle.get("/json").status, 200u);
    http_client busy{server.port()};
    busy.send_raw("GET /io/sleep?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");

    // Wait until the slow request is being served: it and this /stats request are in flight.
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["totals"]["requests_in_flight"] == 2; }));
    server.signal(SIGTERM);

    // The idle connection is closed; the in-flight request completes.
    EXPECT_TRUE(idle.closed_by_server());
    auto slept = busy.read_reply();
    EXPECT_EQ(slept.status, 200u);
    EXPECT_EQ(slept.json()["ms"], 1000);

    // The request that was already received is answered too: not ready, and goodbye.
    auto ready = busy.read_reply();
    EXPECT_EQ(ready.status, 503u);
    EXPECT_EQ(ready.json(), (nlohmann::json{{"ready", false}, {"error", "draining"}}));
    EXPECT_FALSE(ready.keep_alive);
    EXPECT_TRUE(busy.closed_by_server());

    // New connections are refused, and the process exits 0.
    EXPECT_TRUE(connection_refused(server.port()));
    EXPECT_EQ(server.wait_exit(patience), 0);
}

TEST_P(lifecycle, drain_timeout_bounds_the_wait_for_slow_work)
{
    server_process server{flags({"--drain-timeout", "200ms"})};
    http_client busy{server.port()};
    busy.send("/io/sleep?ms=30000");
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["totals"]["requests_in_flight"] == 2; }));
    server.signal(SIGINT);
    // Cut off at the drain deadline rather than after 30 s, and still a clean exit.
    EXPECT_EQ(server.wait_exit(patience), 0);
    EXPECT_TRUE(busy.closed_by_server());
}

TEST_P(lifecycle, an_idle_server_exits_zero_on_sigterm)
{
    server_process server{flags({})};
    http_client client{server.port()};
    ASSERT_EQ(client.get("/healthz").status, 200u);
    server.signal(SIGTERM);
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(server.wait_exit(patience), 0);
}

INSTANTIATE_TEST_SUITE_P(all_models, lifecycle, ::testing::ValuesIn(all_modes()));

TEST(configuration, environment_variables_set_flags_and_flags_win)
{
    ::setenv("CVP_MODE", "offload", 1);
    ::setenv("CVP_POOL_THREADS", "3", 1);
    ::setenv("CVP_POOL_QUEUE", "7", 1);
    server_process server{{"--pool-queue", "9"}};
    ::unsetenv("CVP_MODE");
    ::unsetenv("CVP_POOL_THREADS");
    ::unsetenv("CVP_POOL_QUEUE");

    auto s = stats(server.port());
    EXPECT_EQ(s["mode"], "offload");
    EXPECT_EQ(s["pool"]["threads"], 3);
    EXPECT_EQ(s["pool"]["queue_capacity"], 9);
}

TEST(configuration, pool_threads_run_pool_nice_levels_below_the_loop)
{
    for (int const increment : {10, 3, 0}) {
        SCOPED_TRACE("--pool-nice " + std::to_string(increment));
        server_process server{{"--mode", "offload", "--pool-threads", "2", "--pool-nice", std::to_string(increment)}};
        // Each thread takes its name once it has set its priority, just after start-up.
        std::map<std::string, int> nice;
        ASSERT_TRUE(eventually([&] {
            nice = thread_nice_values(server.pid());
            return nice.contains("cvp-loop-0") && nice.contains("cvp-pool-1") && nice.contains("cvp-pool-2");
        }));
        // Nice stops at 19, so a suite that runs niced itself leaves less room.
        int const expected = std::min(19, nice["cvp-loop-0"] + increment);
        EXPECT_EQ(nice["cvp-pool-1"], expected);
        EXPECT_EQ(nice["cvp-pool-2"], expected);
        EXPECT_EQ(stats(server.port())["pool"]["nice_below_loop"], expected - nice["cvp-loop-0"]);
    }
}

TEST(configuration, reactors_default_to_the_usable_cpus_and_pin_to_allowed_ones)
{
    server_process server{{"--mode", "reactors"}};
    // Each loop pins itself as its thread starts, which may be just after the first request.
    ASSERT_TRUE(wait_for_stats(
        server.port(), [](nlohmann::json const& st) { return st["cpu"]["pinned"].size() == st["cpu"]["usable"].get<std::size_t>(); }));
    auto s = stats(server.port());
    auto const usable = s["cpu"]["usable"].get<std::size_t>();
    std::size_t loops = 0;
    for (auto const& w : s["workers"]) {
        loops += 1;
        if (!w["cpu"].is_null()) {
            auto const& allowed = s["cpu"]["allowed"];
            EXPECT_NE(std::find(allowed.begin(), allowed.end(), w["cpu"]), allowed.end()) << w;
        }
    }
    EXPECT_EQ(loops, usable);
    EXPECT_EQ(s["cpu"]["pinned"].size(), usable);
}

TEST(configuration, round_robin_gives_connections_opened_one_by_one_to_the_loops_in_turn)
{
    server_process server{{"--mode", "reactors", "--threads", "2", "--accept", "round-robin"}};
    // Each connection is served before the next opens, so none is queued beside another.
    std::vector<std::unique_ptr<http_client>> clients;
    std::vector<std::string> workers;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(std::make_unique<http_client>(server.port()));
        workers.push_back(clients.back()->get("/plaintext").header("x-worker"));
    }
    EXPECT_NE(workers[0], workers[1]);
    EXPECT_EQ(workers[0], workers[2]);
    EXPECT_EQ(workers[1], workers[3]);
    auto s = clients.front()->get("/stats").json();
    EXPECT_EQ(s["workers"][0]["connections_total"].get<int>(), 2);
    EXPECT_EQ(s["workers"][1]["connections_total"].get<int>(), 2);
}

TEST(configuration, reuseport_gives_every_loop_connections)
{
    server_process server{{"--mode", "reactors", "--threads", "2", "--accept", "reuseport"}};
    EXPECT_NE(server.startup_line().find("accept=reuseport"), std::string::npos);
    // The kernel hashes connections over the two acceptors; many connections reach both.
    std::vector<std::unique_ptr<http_client>> clients;
    for (int i = 0; i < 64; ++i) {
        clients.push_back(std::make_unique<http_client>(server.port()));
        ASSERT_EQ(clients.back()->get("/json").status, 200u);
    }
    auto s = clients.front()->get("/stats").json();
    EXPECT_EQ(s["accept"], "reuseport");
    EXPECT_GT(s["workers"][0]["connections_total"].get<int>(), 0);
    EXPECT_GT(s["workers"][1]["connections_total"].get<int>(), 0);
}

} // namespace
} // namespace cvp::test
