/// Each class of bad input gets its clear error, and the server keeps serving.

#include "tests/integration/harness.hpp"

#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

namespace cvp::test {
namespace {

using boost::beast::http::verb;

class bad_input : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{
        {"--mode", GetParam(), "--threads", "2", "--pool-threads", "2", "--max-header-bytes", "1024", "--max-body-bytes", "512"}};

    /// The server still answers on a fresh connection.
    void expect_still_serving()
    {
        http_client client{server_.port()};
        EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
    }
};

/// A 400 naming the parameter, on a connection that stays usable.
void expect_bad_parameter(http_client& client, std::string const& target, std::string const& parameter)
{
    auto r = client.get(target);
    EXPECT_EQ(r.status, 400u) << target << ": " << r.body;
    auto body = r.json();
    EXPECT_EQ(body["parameter"], parameter) << target;
    EXPECT_EQ(body["status"], 400);
    EXPECT_NE(body["error"].get<std::string>().find(parameter), std::string::npos) << body;
    EXPECT_TRUE(r.keep_alive) << target;
}

TEST_P(bad_input, parameters_are_validated_and_capped)
{
    http_client client{server_.port()};
    struct bad
    {
        char const* target;
        char const* parameter;
    };
    for (auto const& [target, parameter] : std::initializer_list<bad>{
             {"/cpu/pbkdf2", "iterations"},                                    // missing
             {"/cpu/pbkdf2?iterations=ten", "iterations"},                     // not a number
             {"/cpu/pbkdf2?iterations=-5", "iterations"},                      // negative
             {"/cpu/pbkdf2?iterations=0", "iterations"},                       // below the minimum
             {"/cpu/pbkdf2?iterations=1000001", "iterations"},                 // above the cap
             {"/cpu/pbkdf2?iterations=99999999999999999999999", "iterations"}, // overflow
             {"/cpu/pbkdf2?iterations=", "iterations"},                        // empty
             {"/cpu/pbkdf2?iterations=1&iterations=2", "iterations"},          // duplicated
             {"/cpu/pbkdf2?iterations=1&length=129", "length"},
             {"/cpu/primes?limit=100000001", "limit"},
             {"/cpu/primes?limit=1000&split=65", "split"},
             {"/cpu/primes?limit=1000&split=0", "split"},
             {"/io/sleep", "ms"},
             {"/io/sleep?ms=60001", "ms"},
             {"/io/block?ms=10001", "ms"},
             {"/mixed?ms=1", "iterations"},
             {"/mixed?iterations=1", "ms"},
             {"/json?verbose=1", "verbose"},            // unknown
             {"/cpu/pbkdf2?iteration=5", "iterations"}, // typo: the required one is missing
         })
        expect_bad_parameter(client, target, parameter);

    // Over-long text parameters.
    expect_bad_parameter(client, "/cpu/pbkdf2?iterations=1&password=" + std::string(257, 'p'), "password");
    expect_bad_parameter(client, "/cpu/pbkdf2?iterations=1&salt=" + std::string(257, 's'), "salt");
}

TEST_P(bad_input, unknown_path_is_404)
{
    http_client client{server_.port()};
    auto r = client.get("/does/not/exist");
    EXPECT_EQ(r.status, 404u);
    EXPECT_NE(r.json()["error"].get<std::string>().find("/does/not/exist"), std::string::npos);
    EXPECT_TRUE(r.keep_alive);
}

TEST_P(bad_input, wrong_method_is_405_with_allow)
{
    http_client client{server_.port()};
    for (auto method : {verb::post, verb::put, verb::delete_, verb::patch}) {
        auto r = client.request("/json", method);
        EXPECT_EQ(r.status, 405u);
        EXPECT_EQ(r.header("allow"), "GET, HEAD");
        EXPECT_EQ(r.json()["status"], 405);
    }
    // An unknown method token is still HTTP: 405 as well.
    client.send_raw("BREW /json HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 405u);
}

TEST_P(bad_input, malformed_requests_get_400_and_a_close)
{
    for (auto const* raw : {"GARBAGE\r\n\r\n", "GET /json HTTP/9.9\r\n\r\n", "GET /json HTTP/1.1\r\nHost x\r\n\r\n",
                            "GET /json HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "GET /js on HTTP/1.1\r\n\r\n"}) {
        http_client client{server_.port()};
        client.send_raw(raw);
        auto r = client.read_reply();
        EXPECT_EQ(r.status, 400u) << raw;
        EXPECT_NE(r.json()["error"].get<std::string>().find("malformed"), std::string::npos) << r.body;
        EXPECT_FALSE(r.keep_alive);
        EXPECT_TRUE(client.closed_by_server()) << raw;
    }
    expect_still_serving();
}

TEST_P(bad_input, malformed_targets_are_400_and_absolute_form_is_served)
{
    http_client client{server_.port()};
    for (auto const* bad : {"*", "/json?x=%zz", "ftp://example.com/json"}) {
        auto r = client.get(bad);
        EXPECT_EQ(r.status, 400u) << bad;
        EXPECT_NE(r.json()["error"].get<std::string>().find("target"), std::string::npos) << bad;
    }
    EXPECT_EQ(client.get("http://example.com/json").json()["message"], "Hello, World!");
}

TEST_P(bad_input, bytes_that_are_not_utf8_still_get_a_json_error)
{
    http_client client{server_.port()};
    auto missing = client.get("/%FF");
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(missing.json()["status"], 404);
    auto bad = client.get("/cpu/pbkdf2?iterations=%FF");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_EQ(bad.json()["parameter"], "iterations");
}

TEST_P(bad_input, oversized_header_is_431)
{
    http_client client{server_.port()};
    client.send_raw("GET /json HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2048, 'a') + "\r\n\r\n");
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 431u);
    EXPECT_NE(r.json()["error"].get<std::string>().find("1024"), std::string::npos) << r.body;
    EXPECT_TRUE(client.closed_by_server());
    expect_still_serving();
}

TEST_P(bad_input, oversized_body_is_413)
{
    http_client client{server_.port()};
    client.send_raw("GET /json HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(1024, 'b'));
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 413u);
    EXPECT_NE(r.json()["error"].get<std::string>().find("512"), std::string::npos) << r.body;
    EXPECT_TRUE(client.closed_by_server());

    // A chunked body that grows past the limit is caught as well.
    http_client chunked{server_.port()};
    chunked.send_raw("GET /json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + std::string(1024, 'c') +
                     "\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.read_reply().status, 413u);
    expect_still_serving();
}

TEST_P(bad_input, a_small_body_is_read_and_ignored)
{
    http_client client{server_.port()};
    client.send_raw("GET /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(client.read_reply().status, 200u);
    EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
}

TEST_P(bad_input, connection_limit_answers_503_and_closes)
{
    server_process limited{{"--mode", GetParam(), "--threads", "2", "--max-connections", "2"}};
    http_client a{limited.port()};
    http_client b{limited.port()};
    ASSERT_EQ(a.get("/json").status, 200u);
    ASSERT_EQ(b.get("/json").status, 200u);

    http_client c{limited.port()};
    auto r = c.read_reply();
    EXPECT_EQ(r.status, 503u);
    EXPECT_NE(r.json()["error"].get<std::string>().find("too many connections"), std::string::npos);
    EXPECT_TRUE(c.closed_by_server());

    // The two admitted connections are unaffected.
    EXPECT_EQ(a.get("/plaintext").status, 200u);
    EXPECT_EQ(b.get("/plaintext").status, 200u);
    EXPECT_EQ(a.get("/stats").json()["totals"]["connections_rejected"], 1);
}

INSTANTIATE_TEST_SUITE_P(all_models, bad_input, ::testing::ValuesIn(all_modes()));

TEST(offload_pool, full_queue_answers_503_with_retry_after)
{
    server_process server{{"--mode", "offload", "--pool-threads", "1", "--pool-queue", "0"}};

    // Occupy the only pool thread.
    http_client busy{server.port()};
    busy.send("/io/block?ms=2000");
    ASSERT_TRUE(wait_for_stats(server.port(), [](nlohmann::json const& s) { return s["pool"]["running"] == 1; }));

    // With no queue, the next piece of work is refused, not queued.
    http_client refused{server.port()};
    auto r = refused.get("/cpu/pbkdf2?iterations=1");
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.header("retry-after"), "1");
    EXPECT_NE(r.json()["error"].get<std::string>().find("overloaded"), std::string::npos);
    EXPECT_TRUE(r.keep_alive);

    // Requests that need no pool are still served, and the busy one completes.
    EXPECT_EQ(refused.get("/io/sleep?ms=1").status, 200u);
    EXPECT_EQ(busy.read_reply().status, 200u);
    auto s = stats(server.port());
    EXPECT_EQ(s["pool"]["rejected"], 1);
    EXPECT_EQ(refused.get("/cpu/pbkdf2?iterations=1").status, 200u);
}

} // namespace
} // namespace cvp::test
