/// Concurrency and parallelism, proven from what the server reports: the worker that ran
/// each piece of work and its start and end on CLOCK_MONOTONIC, which this test process
/// shares with the server. No assertion here depends on how fast the machine is.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>

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

TEST(pool, two_connections_run_cpu_work_on_two_threads_at_once)
{
    server_process server{{"--mode", "pool", "--threads", "2"}};
    auto const bodies = concurrently(server.port(), heavy_cpu, 2);
    auto const a = interval_of(bodies[0]);
    auto const b = interval_of(bodies[1]);
    // Whichever thread was free took the second connection, and the work overlapped.
    EXPECT_NE(a.worker, b.worker);
    EXPECT_TRUE(overlap(a, b)) << bodies[0] << "\n" << bodies[1];
    auto const s = stats(server.port());
    for (auto const& w : s["workers"])
        EXPECT_EQ(w["kind"], "pool-thread");
}

TEST(pool, the_steps_of_one_connection_never_overlap_though_a_thread_is_free)
{
    server_process server{{"--mode", "pool", "--threads", "2"}};
    // Three CPU requests pipelined on one connection, and one more on a second connection.
    http_client busy{server.port()};
    http_client other{server.port()};
    busy.send_raw("GET /cpu/pbkdf2?iterations=1000000 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /cpu/pbkdf2?iterations=1000000 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /cpu/pbkdf2?iterations=1000000 HTTP/1.1\r\nHost: x\r\n\r\n");
    other.send(heavy_cpu);
    std::vector<interval> steps;
    for (int i = 0; i < 3; ++i)
        steps.push_back(interval_of(busy.read_reply().json()));
    auto const beside = interval_of(other.read_reply().json());

    // The connection's own requests ran one after another, in order...
    for (std::size_t i = 0; i + 1 < steps.size(); ++i)
        EXPECT_LE(steps[i].end_ns, steps[i + 1].start_ns) << "step " << i;
    // ...while a second thread was there to run work: the other connection's overlapped one.
    bool met = false;
    for (auto const& step : steps)
        met = met || (overlap(step, beside) && step.worker != beside.worker);
    EXPECT_TRUE(met);
}

TEST(pool, a_blocked_thread_does_not_stop_another_connections_timer_wait)
{
    server_process server{{"--mode", "pool", "--threads", "2"}};
    http_client blocked{server.port()};
    blocked.send("/io/block?ms=1000");
    // In flight: the blocking request, and the /stats request that asks.
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["totals"]["requests_in_flight"] == 2; }));

    // One thread is held by the blocking call; the other serves the sleeps meanwhile.
    http_client sleeper{server.port()};
    std::vector<nlohmann::json> sleeps;
    for (int i = 0; i < 3; ++i)
        sleeps.push_back(sleeper.get("/io/sleep?ms=10").json());
    auto const block = blocked.read_reply().json();
    for (auto const& s : sleeps) {
        EXPECT_GT(s["start_ns"].get<std::int64_t>(), block["start_ns"].get<std::int64_t>());
        EXPECT_LT(s["end_ns"].get<std::int64_t>(), block["end_ns"].get<std::int64_t>());
        EXPECT_NE(s["worker"], block["worker"]);
    }
}

TEST(threads, each_connection_runs_its_work_on_a_thread_of_its_own)
{
    server_process server{{"--mode", "threads"}};
    auto const bodies = concurrently(server.port(), "/cpu/pbkdf2?iterations=100000", 3);
    std::set<int> workers;
    for (auto const& b : bodies)
        workers.insert(interval_of(b).worker);
    EXPECT_EQ(workers.size(), 3u);
    // None of them is the acceptor's loop, worker 0.
    EXPECT_FALSE(workers.contains(0));
    auto const s = stats(server.port());
    for (auto const w : workers)
        EXPECT_EQ(s["workers"][static_cast<std::size_t>(w)]["kind"], "connection-thread");
}

TEST(threads, a_blocked_connection_stops_no_other_one)
{
    server_process server{{"--mode", "threads"}};
    http_client blocked{server.port()};
    blocked.send("/io/block?ms=1000");
    // In flight: the blocking request, and the /stats request that asks.
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["totals"]["requests_in_flight"] == 2; }));

    // Other connections block, compute and sleep, all inside the first one's blocking call.
    std::vector<nlohmann::json> others;
    for (auto const* target : {"/io/block?ms=10", "/cpu/pbkdf2?iterations=1000", "/io/sleep?ms=10"}) {
        http_client c{server.port()};
        others.push_back(c.get(target).json());
    }
    auto const block = blocked.read_reply().json();
    for (auto const& o : others) {
        EXPECT_GT(o["start_ns"].get<std::int64_t>(), block["start_ns"].get<std::int64_t>()) << o;
        EXPECT_LT(o["end_ns"].get<std::int64_t>(), block["end_ns"].get<std::int64_t>()) << o;
        EXPECT_NE(o["worker"], block["worker"]) << o;
    }
}

TEST(threads, threads_end_with_their_connections_and_their_slots_are_reused)
{
    server_process server{{"--mode", "threads"}};
    auto const connection_threads = [](nlohmann::json const& s) {
        std::size_t n = 0;
        for (auto const& w : s["workers"])
            n += w["kind"] == "connection-thread" ? 1u : 0u;
        return n;
    };
    std::size_t peak_workers = 0;
    for (int round = 0; round < 2; ++round) {
        {
            // Five connections, each served: five threads beside the acceptor, and one more
            // for the connection that asks for /stats.
            std::vector<std::unique_ptr<http_client>> clients;
            for (int i = 0; i < 5; ++i) {
                clients.push_back(std::make_unique<http_client>(server.port()));
                ASSERT_EQ(clients.back()->get("/plaintext").status, 200u);
            }
            auto const s = stats(server.port());
            EXPECT_EQ(s["model"]["threads_alive"], 7) << s["model"];
            peak_workers = std::max(peak_workers, connection_threads(s));
        }
        // Closed: only the acceptor and the /stats connection's own thread are left.
        ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["model"]["threads_alive"] == 2; }));
    }
    // The second round took the slots the first one left: no more workers than at the
    // peak, give or take one for an earlier /stats connection whose thread was still
    // ending (without reuse the second round would add five or six).
    EXPECT_LE(connection_threads(stats(server.port())), peak_workers + 1);
    EXPECT_LE(peak_workers, 7u);
}

TEST(threads, out_of_descriptors_it_backs_off_and_accepts_again)
{
#if defined(__SANITIZE_ADDRESS__)
    // UBSan's vptr check reads memory through a pipe of its own; in a process with no
    // descriptor left it reports valid objects as invalid. Release and TSan run this.
    GTEST_SKIP() << "the ASan+UBSan runtime needs descriptors of its own";
#endif
    server_process server{{"--mode", "threads"}};
    auto const entries = [&](char const* dir) {
        std::size_t n = 0;
        for ([[maybe_unused]] auto const& e : std::filesystem::directory_iterator{"/proc/" + std::to_string(server.pid()) + "/" + dir})
            ++n;
        return n;
    };
    // Running (its signals set up, then the acceptor's thread started), and no connection
    // seen yet.
    auto const acceptor_started = [&] {
        for (auto const& task : std::filesystem::directory_iterator{"/proc/" + std::to_string(server.pid()) + "/task"}) {
            std::ifstream comm{task.path() / "comm"};
            std::string name;
            if (std::getline(comm, name) && name == "cvp-loop-0")
                return true;
        }
        return false;
    };
    ASSERT_TRUE(eventually(acceptor_started));
    auto const open_fds = [&] { return entries("fd"); };
    // No room for a connection's socket.
    rlimit before{};
    ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, nullptr, &before), 0);
    rlimit tight{open_fds(), before.rlim_max};
    ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, &tight, nullptr), 0);

    // Connections arrive meanwhile; the kernel queues them, the server cannot take them.
    std::vector<std::unique_ptr<http_client>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<http_client>(server.port()));
        clients.back()->send("/plaintext");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{200});

    // With room again, the server takes them and answers every one.
    ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, &before, nullptr), 0);
    for (auto& c : clients)
        EXPECT_EQ(c->read_reply().status, 200u);
    http_client later{server.port()};
    EXPECT_EQ(later.get("/plaintext").status, 200u);
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
