/// Concurrency and parallelism, proven from what the server reports: the worker that ran
/// each piece of work and its start and end on CLOCK_MONOTONIC, which this test process
/// shares with the server. No assertion here depends on how fast the machine is.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace cvp::test {
namespace {

/// Work that takes long enough (about 130 ms here) for requests sent together to meet,
/// even when another test process keeps a CPU busy and delays one loop.
constexpr char const* heavy_cpu = "/cpu/pbkdf2?iterations=1000000";

/// Sends `target` on `n` fresh connections, all before reading any reply, and returns the
/// bodies in connection order.
std::vector<nlohmann::json> concurrently(std::uint16_t port, std::string const& target, int n)
{
    std::vector<std::unique_ptr<http_client>> clients;
    for (int i = 0; i < n; ++i)
        clients.push_back(std::make_unique<http_client>(port));
    for (auto& c : clients)
        c->send(target);
    std::vector<nlohmann::json> bodies;
    for (auto& c : clients) {
        auto r = c->read_reply();
        EXPECT_EQ(r.status, 200u) << r.body;
        bodies.push_back(r.json());
    }
    return bodies;
}

/// No two intervals overlap, and all ran on `worker`.
void expect_serial_on(std::vector<nlohmann::json> const& bodies, int worker)
{
    for (std::size_t i = 0; i < bodies.size(); ++i) {
        auto const a = interval_of(bodies[i]);
        EXPECT_EQ(a.worker, worker);
        for (std::size_t j = i + 1; j < bodies.size(); ++j)
            EXPECT_FALSE(overlap(a, interval_of(bodies[j]))) << bodies[i] << "\n" << bodies[j];
    }
}

TEST(single, concurrent_cpu_requests_never_overlap)
{
    server_process server{{"--mode", "single"}};
    // Four connections are open and waiting at once: concurrency, but one core's worth.
    expect_serial_on(concurrently(server.port(), heavy_cpu, 4), 0);
}

TEST(single, blocking_requests_are_serialized)
{
    server_process server{{"--mode", "single"}};
    expect_serial_on(concurrently(server.port(), "/io/block?ms=100", 3), 0);
}

TEST(single, a_timer_wait_beside_cpu_work_is_held_up_by_it)
{
    server_process server{{"--mode", "single"}};
    http_client cpu{server.port()};
    http_client io{server.port()};
    cpu.send("/cpu/pbkdf2?iterations=1000000");
    // Give the loop a moment to pick the CPU request up; the asserts below check it did.
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    auto const sent_ns = now_ns();
    io.send("/io/sleep?ms=1");

    auto const work = cpu.read_reply().json();
    auto const slept = io.read_reply().json();
    // The sleep was asked for while the CPU work was running...
    ASSERT_LT(work["start_ns"].get<std::int64_t>(), sent_ns) << "the loop had not started the CPU work yet";
    ASSERT_LT(sent_ns, work["end_ns"].get<std::int64_t>()) << "the CPU work ended before the sleep was sent";
    // ...yet its 1 ms wait could not even begin until the loop was free again.
    EXPECT_GE(slept["start_ns"].get<std::int64_t>(), work["end_ns"].get<std::int64_t>());
    EXPECT_GE(slept["end_ns"].get<std::int64_t>() - sent_ns, work["end_ns"].get<std::int64_t>() - sent_ns);
}

TEST(reactors, two_connections_run_cpu_work_on_two_loops_at_once)
{
    server_process server{{"--mode", "reactors", "--threads", "2", "--accept", "round-robin"}};
    auto const bodies = concurrently(server.port(), heavy_cpu, 2);
    auto const a = interval_of(bodies[0]);
    auto const b = interval_of(bodies[1]);
    // Round-robin put the connections on different loops, and their work overlapped.
    EXPECT_NE(a.worker, b.worker);
    EXPECT_TRUE(overlap(a, b)) << bodies[0] << "\n" << bodies[1];
}

TEST(reactors, work_on_one_loop_is_serial)
{
    server_process server{{"--mode", "reactors", "--threads", "1"}};
    expect_serial_on(concurrently(server.port(), heavy_cpu, 3), 0);
}

TEST(offload, timer_waits_complete_while_the_pool_is_busy)
{
    server_process server{{"--mode", "offload", "--pool-threads", "1"}};
    http_client blocked{server.port()};
    blocked.send("/io/block?ms=1000");
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["pool"]["running"] == 1; }));

    // The loop is free: several sleeps start and finish inside the blocking call.
    auto const sleeps = concurrently(server.port(), "/io/sleep?ms=10", 3);
    auto const block = blocked.read_reply().json();
    for (auto const& s : sleeps) {
        EXPECT_GT(s["start_ns"].get<std::int64_t>(), block["start_ns"].get<std::int64_t>());
        EXPECT_LT(s["end_ns"].get<std::int64_t>(), block["end_ns"].get<std::int64_t>());
        EXPECT_EQ(s["worker"], 0);
    }
    EXPECT_EQ(block["worker"], 1);
}

TEST(offload, a_finished_task_is_answered_without_waiting_for_queued_ones)
{
    server_process server{{"--mode", "offload", "--pool-threads", "1"}};
    // Three blocking tasks on one pool thread, each sent once the pool has admitted the one
    // before, so that the queue's order is known: the first runs, the others wait behind
    // it. The later ones are long, so that an answer held back behind them would be late
    // by seconds, far beyond any scheduling delay.
    std::vector<std::unique_ptr<http_client>> clients;
    for (auto const* target : {"/io/block?ms=300", "/io/block?ms=1000", "/io/block?ms=1000"}) {
        clients.push_back(std::make_unique<http_client>(server.port()));
        clients.back()->send(target);
        auto const sent = clients.size();
        ASSERT_TRUE(wait_for_stats(server.port(), [sent](nlohmann::json const& s) {
            auto const& p = s["pool"];
            return p["running"].get<std::size_t>() + p["queue_depth"].get<std::size_t>() + p["completed"].get<std::size_t>() == sent;
        }));
    }

    std::vector<nlohmann::json> bodies;
    std::vector<std::int64_t> received_ns;
    for (auto& c : clients) {
        auto const reply = c->read_reply();
        received_ns.push_back(now_ns());
        EXPECT_EQ(reply.status, 200u);
        bodies.push_back(reply.json());
    }
    for (std::size_t k = 0; k + 1 < bodies.size(); ++k) {
        auto const& task = bodies[k];
        auto const& next = bodies[k + 1];
        // The queue is FIFO: task k ran before task k+1 ...
        EXPECT_LE(task["end_ns"].get<std::int64_t>(), next["start_ns"].get<std::int64_t>()) << task << "\n" << next;
        // ... and its answer arrived while task k+1 was still running, not behind it.
        EXPECT_LT(received_ns[k], next["end_ns"].get<std::int64_t>()) << task << "\n" << next;
    }
}

TEST(offload, split_chunks_run_on_the_pool_in_parallel)
{
    server_process server{{"--mode", "offload", "--pool-threads", "2"}};
    http_client client{server.port()};
    auto body = client.get("/cpu/primes?limit=20000000&split=2").json();
    ASSERT_EQ(body["chunks"].size(), 2u);
    auto const a = interval_of(body["chunks"][0]);
    auto const b = interval_of(body["chunks"][1]);
    EXPECT_NE(a.worker, b.worker);
    EXPECT_GE(a.worker, 1); // pool threads, not the loop
    EXPECT_GE(b.worker, 1);
    EXPECT_TRUE(overlap(a, b)) << body;
    EXPECT_EQ(body["count"], 1270607); // pi(2 * 10^7)
}

TEST(offload, cpu_requests_on_two_pool_threads_overlap)
{
    server_process server{{"--mode", "offload", "--pool-threads", "2"}};
    auto const bodies = concurrently(server.port(), heavy_cpu, 2);
    auto const a = interval_of(bodies[0]);
    auto const b = interval_of(bodies[1]);
    EXPECT_NE(a.worker, b.worker);
    EXPECT_TRUE(overlap(a, b)) << bodies[0] << "\n" << bodies[1];
}

TEST(single_and_reactors, split_chunks_run_in_sequence_on_the_serving_loop)
{
    for (auto const* mode : {"single", "reactors"}) {
        server_process server{{"--mode", mode, "--threads", "2"}};
        http_client client{server.port()};
        auto body = client.get("/cpu/primes?limit=2000000&split=4").json();
        ASSERT_EQ(body["chunks"].size(), 4u);
        for (std::size_t i = 0; i + 1 < 4; ++i) {
            auto const a = interval_of(body["chunks"][i]);
            auto const b = interval_of(body["chunks"][i + 1]);
            EXPECT_EQ(a.worker, b.worker) << mode;
            EXPECT_LE(a.end_ns, b.start_ns) << mode;
        }
    }
}

} // namespace
} // namespace cvp::test
