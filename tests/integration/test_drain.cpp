/// The drain loses nothing, in every model: each race that used to drop a request that
/// had reached the server, reproduced on purpose.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>

namespace cvp::test {
namespace {

using namespace std::chrono_literals;

class drain : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{
        {"--mode", GetParam(), "--threads", "2", "--pool-threads", "2", "--drain-grace", "2s", "--drain-timeout", "15s"}};
};

TEST_P(drain, a_connection_that_has_not_spoken_yet_may_still_deliver_its_request)
{
    // Connected and accepted, but the request is not sent until the drain has begun.
    http_client client{server_.port()};
    ASSERT_TRUE(wait_for_stats(server_.port(), [](nlohmann::json const& s) { return s["totals"]["connections_open"] == 2; }));
    server_.signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return connection_refused(server_.port()); }));
    client.send_raw("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");

    // It is answered, with "close", and the server then exits cleanly.
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "Hello, World!");
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(server_.wait_exit(patience), 0);
}

TEST_P(drain, the_next_request_on_a_kept_alive_connection_is_answered_not_dropped)
{
    // The last answer before the drain said keep-alive, so the client sends another.
    http_client client{server_.port()};
    auto first = client.get("/plaintext");
    ASSERT_TRUE(first.keep_alive);
    server_.signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return connection_refused(server_.port()); }));
    auto second = client.get("/plaintext");
    EXPECT_EQ(second.status, 200u);
    EXPECT_FALSE(second.keep_alive);
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(server_.wait_exit(patience), 0);
}

TEST_P(drain, pipelined_requests_already_received_are_all_answered)
{
    http_client client{server_.port()};
    ASSERT_EQ(client.get("/plaintext").status, 200u);
    client.send_raw("GET /io/sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(wait_for_stats(server_.port(), [](nlohmann::json const& s) { return s["totals"]["requests_in_flight"] == 2; }));
    server_.signal(SIGTERM);

    // Every request that reached the server gets its answer; only the last says close.
    EXPECT_TRUE(client.read_reply().keep_alive);
    EXPECT_TRUE(client.read_reply().keep_alive);
    auto last = client.read_reply();
    EXPECT_EQ(last.json()["message"], "Hello, World!");
    EXPECT_FALSE(last.keep_alive);
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(server_.wait_exit(patience), 0);
}

TEST_P(drain, clients_sending_back_to_back_lose_nothing)
{
    // Sixteen keep-alive clients, each sending its next request as soon as the last is
    // answered, for as long as the server says keep-alive. A request is lost if it was
    // sent and the connection ended without its answer.
    constexpr int clients = 16;
    std::atomic<int> lost{0};
    std::atomic<int> answered{0};
    std::atomic<int> running{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, port = server_.port()] {
            http_client client{port};
            ++running;
            for (;;) {
                try {
                    auto r = client.get("/plaintext");
                    ++answered;
                    if (!r.keep_alive)
                        return;
                } catch (std::exception const&) {
                    ++lost;
                    return;
                }
            }
        });
    }
    ASSERT_TRUE(eventually([&] { return running == clients && answered > 1000; }));
    server_.signal(SIGTERM);
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(lost, 0) << answered << " answered";
    EXPECT_EQ(server_.wait_exit(patience), 0);
}

INSTANTIATE_TEST_SUITE_P(all_models, drain, ::testing::ValuesIn(all_modes()));

/// Signals that keep coming after a drain has begun: each round starts its own server.
class late_signals : public ::testing::TestWithParam<std::string>
{
};

TEST_P(late_signals, a_clean_drain_exits_0_whatever_signals_arrive_until_the_process_is_gone)
{
    // Each round ends one drain under a stream of SIGTERM and SIGINT that lasts until the
    // process has exited, so some arrive during the teardown after the last answer.
    constexpr int rounds = 20;
    for (int round = 0; round < rounds; ++round) {
        server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};

        // One answered request on a connection the server then closes: the drain has
        // nothing to wait for.
        http_client client{server.port()};
        auto r = client.request("/plaintext", boost::beast::http::verb::get, 11, {{"Connection", "close"}});
        ASSERT_EQ(r.status, 200u);
        ASSERT_TRUE(client.closed_by_server());

        // Signal after signal until the process has exited (reaped in this same loop, so
        // its pid cannot have been reused in between).
        auto const deadline = std::chrono::steady_clock::now() + patience;
        std::optional<int> status;
        int sent = 0;
        while (!status && std::chrono::steady_clock::now() < deadline) {
            server.signal(sent % 2 == 0 ? SIGTERM : SIGINT);
            ++sent;
            status = server.wait_exit(0ms);
        }
        ASSERT_TRUE(status.has_value()) << "still running after " << sent << " signals";
        EXPECT_EQ(*status, 0) << "round " << round << ", after " << sent << " signals";
    }
}

INSTANTIATE_TEST_SUITE_P(all_models, late_signals, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
