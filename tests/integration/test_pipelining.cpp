/// Pipelining, in every model: answers stay in order, leave together, and a slow request
/// holds back none of the answers before it. Proven from the server's own counters.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace cvp::test {
namespace {

class pipelining : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
};

/// Responses and socket writes the whole server has made so far.
std::pair<std::uint64_t, std::uint64_t> responses_and_writes(std::uint16_t port)
{
    auto const s = stats(port);
    return {s["totals"]["responses"].get<std::uint64_t>(), s["totals"]["writes"].get<std::uint64_t>()};
}

TEST_P(pipelining, thirty_two_requests_in_one_send_are_answered_in_order_in_a_few_writes)
{
    auto const [responses_before, writes_before] = responses_and_writes(server_.port());

    // Thirty-two requests in one send, alternating two endpoints so that order shows.
    http_client client{server_.port()};
    std::string burst;
    for (int i = 0; i < 32; ++i)
        burst += i % 2 == 0 ? "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /json HTTP/1.1\r\nHost: x\r\n\r\n";
    client.send_raw(burst);
    for (int i = 0; i < 32; ++i) {
        auto r = client.read_reply();
        ASSERT_EQ(r.status, 200u);
        if (i % 2 == 0)
            EXPECT_EQ(r.body, "Hello, World!") << i;
        else
            EXPECT_EQ(r.json()["message"], "Hello, World!") << i;
    }

    // The stats request that follows is one response and one write more. Each answer in
    // its own write would be 33 writes; gathered, they are a few.
    auto const [responses_after, writes_after] = responses_and_writes(server_.port());
    EXPECT_EQ(responses_after - responses_before, 32u + 1u) << "the burst, and the first /stats";
    EXPECT_LE(writes_after - writes_before, 1u + 8u) << "32 pipelined responses took " << writes_after - writes_before << " writes";
}

TEST_P(pipelining, a_slow_request_does_not_hold_back_the_answers_before_it)
{
    http_client client{server_.port()};
    client.send_raw("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /io/sleep?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /json HTTP/1.1\r\nHost: x\r\n\r\n");

    // The first answer arrives while the slow one is still being served.
    EXPECT_EQ(client.read_reply().body, "Hello, World!");
    auto const s = stats(server_.port());
    EXPECT_EQ(s["totals"]["requests_in_flight"], 2) << "the sleep and this /stats request";

    // Then the rest, in order.
    EXPECT_EQ(client.read_reply().json()["ms"], 3000);
    EXPECT_EQ(client.read_reply().json()["message"], "Hello, World!");
}

TEST_P(pipelining, a_client_that_does_not_read_is_not_answered_without_bound)
{
    // Pipeline about 8 MB of answers (/metrics, about 2 KB each), more than the kernel's
    // socket buffers hold, and read none of them. Cheap answers, so that this stays quick
    // under the sanitizers.
    constexpr int requests = 4000;
    http_client client{server_.port()};
    std::string burst;
    for (int i = 0; i < requests; ++i)
        burst += "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    client.send_raw(burst);

    // Once the socket is full, the server stops taking requests rather than queueing
    // answers in memory: the count it has served settles below what was sent. Each
    // /stats asked counts once, after its own answer, so the asking is taken off.
    std::uint64_t asked = 0;
    auto const served = [&] {
        auto const answered = stats(server_.port())["totals"]["requests"].get<std::uint64_t>();
        return answered - asked++;
    };
    ASSERT_TRUE(eventually([&] {
        auto const before = served();
        std::this_thread::sleep_for(std::chrono::milliseconds{300});
        return before > 0 && served() == before;
    }));
    EXPECT_LT(served(), static_cast<std::uint64_t>(requests));

    // Reading lets it go on: every answer arrives, in full.
    for (int i = 0; i < requests; ++i) {
        auto const r = client.read_reply();
        ASSERT_EQ(r.status, 200u) << i;
        ASSERT_NE(r.body.find("cvp_requests_total"), std::string::npos) << i;
    }
}

INSTANTIATE_TEST_SUITE_P(all_models, pipelining, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
