/// Loop lag, utilization and the stall detector, from what the server reports: a 300-ms
/// block on `single`'s loop shows in its lag and fires the watchdog, which names /io/block
/// in the log; the same block on `offload` runs on the pool and leaves the I/O loop
/// responsive; in every model the thread that ran a block counts it as busy; every model
/// reports its loops in /stats and /metrics; offload reports its pool's queue wait.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cvp::test {
namespace {

namespace fs = std::filesystem;

constexpr int block_ms = 300;

/// The server's standard error goes to a file of the test's, which it removes afterwards.
class logged_server
{
public:
    explicit logged_server(std::vector<std::string> args)
        : log_(fs::temp_directory_path() / ("cvp-loop-health-" + std::to_string(::getpid()) + "-" + std::to_string(next_++) + ".log"))
        , server_(std::move(args), {"/bin/sh", "-c", "exec \"$@\" 2>>'" + log_.string() + "'", "sh"})
    {}
    ~logged_server() { fs::remove(log_); }
    logged_server(logged_server const&) = delete;
    logged_server& operator=(logged_server const&) = delete;

    std::uint16_t port() const { return server_.port(); }
    std::string log() const
    {
        std::ifstream in(log_);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    fs::path log_;
    server_process server_;
    static inline int next_ = 0;
};

/// The loop named `name` in /stats.
nlohmann::json loop_named(std::uint16_t port, std::string const& name)
{
    auto const s = stats(port);
    for (auto const& l : s["loops"])
        if (l["name"] == name)
            return l;
    ADD_FAILURE() << "no loop named " << name << " in " << s["loops"].dump();
    return {};
}

TEST(loop_health, a_block_on_singles_loop_shows_in_its_lag_and_fires_one_stall_naming_the_target)
{
    logged_server server{{"--mode", "single"}};
    http_client client{server.port()};
    auto const r = client.get("/io/block?ms=" + std::to_string(block_ms));
    ASSERT_EQ(r.status, 200u) << r.body;

    // The timer due during the block fired when it ended: at most one interval short of it.
    auto const s = stats(server.port());
    auto const interval = s["lag_interval_ms"].get<double>();
    auto const loop = loop_named(server.port(), "loop 0");
    EXPECT_GE(loop["lag"]["max_ms"].get<double>(), block_ms - interval) << loop.dump();
    EXPECT_EQ(loop["stalls"], 1) << loop.dump();
    EXPECT_EQ(loop["last_stall"]["serving"], "GET /io/block?ms=300");
    EXPECT_GT(loop["last_stall"]["stuck_ms"].get<int>(), s["stall_threshold_ms"].get<int>());

    // The log line, written by the watchdog while the loop was stuck.
    EXPECT_TRUE(eventually([&] { return server.log().find("stall: loop 0") != std::string::npos; })) << server.log();
    EXPECT_NE(server.log().find("GET /io/block?ms=300"), std::string::npos) << server.log();
    auto const text = client.get("/metrics").body;
    EXPECT_NE(text.find("cvp_loop_stalls_total{mode=\"single\",loop=\"loop 0\"} 1\n"), std::string::npos) << text;
}

TEST(loop_health, a_block_on_offload_runs_on_the_pool_and_leaves_the_io_loop_responsive)
{
    logged_server server{{"--mode", "offload", "--pool-threads", "2"}};
    http_client client{server.port()};
    auto const r = client.get("/io/block?ms=" + std::to_string(block_ms));
    ASSERT_EQ(r.status, 200u) << r.body;
    ASSERT_NE(r.json()["worker"], 0) << "the block ran on the I/O loop";

    auto const loop = loop_named(server.port(), "loop 0");
    EXPECT_LT(loop["lag"]["max_ms"].get<double>(), block_ms / 2.0) << loop.dump();
    EXPECT_EQ(loop["stalls"], 0) << loop.dump();
    EXPECT_TRUE(loop["last_stall"].is_null());
    EXPECT_EQ(server.log().find("stall:"), std::string::npos) << server.log();
}

TEST(loop_health, with_the_threshold_at_0_no_stall_is_watched_for)
{
    logged_server server{{"--mode", "single", "--stall-threshold", "0"}};
    http_client client{server.port()};
    ASSERT_EQ(client.get("/io/block?ms=" + std::to_string(block_ms)).status, 200u);
    auto const s = stats(server.port());
    EXPECT_EQ(s["stall_threshold_ms"], 0);
    EXPECT_EQ(loop_named(server.port(), "loop 0")["stalls"], 0);
    EXPECT_GE(loop_named(server.port(), "loop 0")["lag"]["max_ms"].get<double>(), block_ms - s["lag_interval_ms"].get<double>());
}

/// The worker numbered `id` in /stats `s`.
nlohmann::json worker_numbered(nlohmann::json const& s, int id)
{
    for (auto const& w : s["workers"])
        if (w["id"] == id)
            return w;
    ADD_FAILURE() << "no worker " << id << " in " << s["workers"].dump();
    return {};
}

class utilization : public ::testing::TestWithParam<std::string>
{
};

TEST_P(utilization, the_thread_that_ran_a_block_counts_it_busy_and_every_loop_thread_has_waited)
{
    server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
    http_client client{server.port()};
    auto const r = client.get("/io/block?ms=100");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto const body = r.json();
    auto const blocked_ns = body["end_ns"].get<std::int64_t>() - body["start_ns"].get<std::int64_t>();
    auto const worker = body["worker"].get<int>();

    // The block happened outside any wait for events, on the thread that ran it: busy,
    // whatever the model (in `threads`, a connection thread; in offload, a pool thread).
    auto const s = stats(server.port());
    auto const w = worker_numbered(s, worker);
    EXPECT_GE(w["lived_ns"].get<std::int64_t>() - w["event_wait_ns"].get<std::int64_t>(), blocked_ns) << w.dump();

    // Every loop's threads have waited for events (a connection thread waits for this
    // client's next request), and each loop's utilization is a share.
    EXPECT_TRUE(wait_for_stats(server.port(), [&](nlohmann::json const& now) {
        for (auto const& l : now["loops"])
            for (auto const& id : l["workers"])
                if (worker_numbered(now, id.get<int>())["event_wait_ns"].get<std::int64_t>() <= 0)
                    return false;
        return worker_numbered(now, worker)["event_wait_ns"].get<std::int64_t>() > 0;
    }));
    // A named snapshot: a range-for over a member of a temporary would outlive it.
    auto const settled = stats(server.port());
    for (auto const& l : settled["loops"]) {
        EXPECT_GE(l["utilization"].get<double>(), 0.0) << l.dump();
        EXPECT_LE(l["utilization"].get<double>(), 1.0) << l.dump();
        EXPECT_GE(l["utilization_recent"].get<double>(), 0.0) << l.dump();
        EXPECT_LE(l["utilization_recent"].get<double>(), 1.0) << l.dump();
    }
    auto const text = client.get("/metrics").body;
    EXPECT_NE(text.find("cvp_worker_event_wait_seconds_total{mode=\"" + GetParam() + "\",worker=\"" + std::to_string(worker) + "\""),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("# TYPE cvp_loop_utilization_ratio gauge"), std::string::npos) << text;
}

INSTANTIATE_TEST_SUITE_P(all_models, utilization, ::testing::ValuesIn(all_modes()));

TEST(loop_health, a_block_on_singles_loop_makes_the_loop_busy_for_its_length)
{
    server_process server{{"--mode", "single"}};
    http_client client{server.port()};
    auto const before = stats(server.port());
    auto const r = client.get("/io/block?ms=" + std::to_string(block_ms));
    ASSERT_EQ(r.status, 200u) << r.body;
    auto const after = stats(server.port());
    auto const busy = [](nlohmann::json const& s) {
        auto const w = worker_numbered(s, 0);
        return w["lived_ns"].get<std::int64_t>() - w["event_wait_ns"].get<std::int64_t>();
    };
    EXPECT_GE(busy(after) - busy(before), r.json()["end_ns"].get<std::int64_t>() - r.json()["start_ns"].get<std::int64_t>());
}

TEST(loop_health, offload_reports_how_long_each_task_waited_in_the_pools_queue)
{
    server_process server{{"--mode", "offload", "--pool-threads", "1"}};
    http_client client{server.port()};
    std::int64_t longest_queue_ns = 0;
    for (int i = 0; i < 5; ++i) {
        auto const r = client.get("/io/block?ms=1");
        ASSERT_EQ(r.status, 200u) << r.body;
        longest_queue_ns = std::max(longest_queue_ns, r.json()["queue_ns"].get<std::int64_t>());
    }
    auto const pool = stats(server.port())["pool"];
    EXPECT_EQ(pool["queue_wait"]["count"], pool["completed"]) << pool.dump();
    EXPECT_EQ(pool["queue_wait"]["count"], 5) << pool.dump();
    // The histogram keeps three significant digits, and whole microseconds.
    EXPECT_GE(pool["queue_wait"]["max_ms"].get<double>() * 1e6, static_cast<double>(longest_queue_ns) * 0.999 - 1000) << pool.dump();
    auto const text = client.get("/metrics").body;
    EXPECT_NE(text.find("cvp_pool_queue_wait_seconds_count 5\n"), std::string::npos) << text;
    EXPECT_NE(text.find("cvp_pool_queue_wait_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos) << text;
}

class loops_listed : public ::testing::TestWithParam<std::string>
{
};

TEST_P(loops_listed, every_model_reports_the_lag_of_each_of_its_loops)
{
    server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2", "--lag-interval", "2ms"}};
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) {
        for (auto const& l : s["loops"])
            if (l["lag"]["count"].get<int>() < 3)
                return false;
        return !s["loops"].empty();
    }));
    auto const s = stats(server.port());
    std::string const mode = GetParam();
    auto const& loops = s["loops"];
    // Which workers each loop runs: its own thread, or in pool every thread of the one loop.
    if (mode == "reactors") {
        ASSERT_EQ(loops.size(), 2u);
        EXPECT_EQ(loops[1]["workers"], nlohmann::json::array({1}));
    } else if (mode == "pool") {
        ASSERT_EQ(loops.size(), 1u);
        EXPECT_EQ(loops[0]["name"], "shared loop");
        EXPECT_EQ(loops[0]["workers"], nlohmann::json::array({0, 1}));
    } else {
        // single's loop, offload's I/O loop, threads' accepting loop.
        ASSERT_EQ(loops.size(), 1u);
        EXPECT_EQ(loops[0]["workers"], nlohmann::json::array({0}));
    }
    for (auto const& l : loops) {
        EXPECT_LE(l["lag"]["min_ms"].get<double>(), l["lag"]["max_ms"].get<double>());
        EXPECT_GE(l["lag_recent"]["count"].get<int>(), 3);
    }
    http_client client{server.port()};
    auto const text = client.get("/metrics").body;
    EXPECT_NE(text.find("# TYPE cvp_loop_lag_seconds histogram"), std::string::npos);
    EXPECT_NE(
        text.find("cvp_loop_lag_seconds_bucket{mode=\"" + mode + "\",loop=\"" + loops[0]["name"].get<std::string>() + "\",le=\"+Inf\"}"),
        std::string::npos)
        << text;
}

INSTANTIATE_TEST_SUITE_P(all_models, loops_listed, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
