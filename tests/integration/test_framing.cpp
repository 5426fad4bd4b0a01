/// HTTP/1.1 framing per RFC 9112 and RFC 9110, in every model: what decides where a
/// request ends, whether the connection persists, and how much a client can make the
/// server hold.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string_view>
#include <thread>

#include <string>

namespace cvp::test {
namespace {

using namespace std::chrono_literals;

class framing : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2", "--max-header-bytes", "1024", "--max-body-bytes",
                            "512", "--header-timeout", "5s"}};

    /// Sends `raw` on a fresh connection, expects `status` with an error naming `what`,
    /// then the close, and nothing else: no second answer smuggled in behind the first.
    void expect_refused_and_closed(std::string const& raw, unsigned status, std::string const& what)
    {
        http_client client{server_.port()};
        client.send_raw(raw);
        auto r = client.read_reply();
        EXPECT_EQ(r.status, status) << raw << "\n" << r.body;
        EXPECT_NE(r.json()["error"].get<std::string>().find(what), std::string::npos) << r.body;
        EXPECT_FALSE(r.keep_alive) << raw;
        EXPECT_TRUE(client.closed_by_server()) << raw;
    }
};

/// A GET that, if the bytes before it were taken for a complete request, is answered too.
constexpr char const* smuggled = "GET /json HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_P(framing, transfer_encoding_that_does_not_end_in_chunked_is_400_and_nothing_is_smuggled)
{
    for (auto const* coding : {"gzip", "identity", "chunked, gzip", "xchunked", "chunked, chunked"})
        expect_refused_and_closed(std::string{"GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "} + coding + "\r\n\r\n" + smuggled,
                                  400, "malformed");
    // Both framings at once is no framing at all.
    expect_refused_and_closed(std::string{"GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"} +
                                  smuggled,
                              400, "malformed");
}

TEST_P(framing, a_coding_we_do_not_implement_before_chunked_is_501)
{
    expect_refused_and_closed(
        std::string{"GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"} + smuggled, 501, "gzip");
}

TEST_P(framing, transfer_encoding_in_http_1_0_is_faulty_framing)
{
    expect_refused_and_closed(std::string{"GET /plaintext HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"} + smuggled, 400,
                              "HTTP/1.0");
}

TEST_P(framing, http_1_1_needs_exactly_one_valid_host)
{
    expect_refused_and_closed("GET /plaintext HTTP/1.1\r\n\r\n", 400, "Host");
    expect_refused_and_closed("GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host");
    for (auto const* bad : {"a b", "user@example.com", "[::1", "example.com:80x", "exa%zzmple"})
        expect_refused_and_closed(std::string{"GET /plaintext HTTP/1.1\r\nHost: "} + bad + "\r\n\r\n", 400, "Host");

    // Valid ones are served, on one connection.
    http_client client{server_.port()};
    for (auto const* good : {"example.com", "example.com:8080", "127.0.0.1:80", "[::1]:8080", ""}) {
        client.send_raw(std::string{"GET /plaintext HTTP/1.1\r\nHost: "} + good + "\r\n\r\n");
        auto r = client.read_reply();
        EXPECT_EQ(r.status, 200u) << good;
        EXPECT_TRUE(r.keep_alive) << good;
    }
    // HTTP/1.0 may leave it out.
    client.send_raw("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 200u);
}

TEST_P(framing, every_connection_field_counts)
{
    http_client client{server_.port()};
    client.send_raw("GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(client.closed_by_server());
}

TEST_P(framing, expect_100_continue_is_answered_before_the_body)
{
    // The body will be read: 100 first, then the answer once the body is in.
    http_client client{server_.port()};
    client.send_raw("GET /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(client.read_reply(true).status, 100u);
    client.send_raw("hello");
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "Hello, World!");
    EXPECT_TRUE(r.keep_alive);

    // The body will not be read: the final status at once, without waiting for it.
    expect_refused_and_closed("GET /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 404, "/nowhere");
    expect_refused_and_closed("POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 405, "POST");
    expect_refused_and_closed("POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n", 413, "512");
}

TEST_P(framing, trailers_change_neither_framing_nor_the_connection)
{
    http_client client{server_.port()};
    for (auto const* trailer : {"Connection: close", "Content-Length: 5", "Transfer-Encoding: gzip", "Host: a\r\nHost: b"}) {
        client.send_raw(std::string{"GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"} +
                        trailer + "\r\n\r\n");
        auto r = client.read_reply();
        EXPECT_EQ(r.status, 200u) << trailer;
        EXPECT_TRUE(r.keep_alive) << trailer;
    }
    EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
}

TEST_P(framing, chunk_extensions_are_allowed_and_bad_chunks_are_400)
{
    http_client client{server_.port()};
    client.send_raw("GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;q=\"x y\"\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 200u);
    for (auto const* bad : {"zz\r\n", "5\r\nhelloXX", "5\nhello\r\n0\r\n\r\n", "0\r\nno-colon\r\n\r\n"})
        expect_refused_and_closed(std::string{"GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"} + bad, 400,
                                  "chunked");
}

TEST_P(framing, a_chunk_extension_without_a_name_is_400_and_closes_while_a_valid_one_is_served)
{
    std::string const head = "GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    // chunk-ext-name is a token (RFC 9112 §7.1.1): `5;=x` has none. Nothing after it is read.
    expect_refused_and_closed(head + "5;=x\r\nhello\r\n0\r\n\r\n" + smuggled, 400, "chunk extension without a name");
    // Whitespace inside a token value is no extension either.
    expect_refused_and_closed(head + "5;a=b c\r\nhello\r\n0\r\n\r\n" + smuggled, 400, "bad chunked encoding");
    // The full grammar is served: BWS, a quoted-string with a quoted-pair, an empty one.
    http_client client{server_.port()};
    client.send_raw(head + "5 ; a = \"q\\\"x\";b=\"\";c\t\r\nhello\r\n0\r\n\r\n");
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
}

TEST_P(framing, http_1_0_is_answered_as_http_1_1_and_one_leading_empty_line_is_ignored)
{
    http_client client{server_.port()};
    client.send_raw("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = client.read_reply();
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.version, 11u);
    EXPECT_EQ(r.header("connection"), "keep-alive");

    client.send_raw("\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(client.read_reply().body, "Hello, World!");
}

TEST_P(framing, a_header_whose_last_empty_line_arrives_on_its_own_is_complete)
{
    // The header's lines in one send, its closing empty line in the next: that line ends
    // the header, and is not the empty line a request may start with.
    for (auto const* first :
         {"GET /plaintext HTTP/1.1\r\nHost: x\r\n", "GET /cpu/primes?limit=1000&split=65 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r"}) {
        http_client client{server_.port()};
        client.send_raw(first);
        // Long enough for the server to have read and parsed the first part alone.
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        client.send_raw(std::string_view{first}.ends_with('\r') ? "\n" : "\r\n");
        auto const r = client.read_reply();
        EXPECT_NE(r.status, 0u) << first;
        EXPECT_EQ(client.get("/plaintext").body, "Hello, World!") << first;
    }
}

TEST_P(framing, responses_carry_a_date)
{
    http_client client{server_.port()};
    auto const date = client.get("/plaintext").header("date");
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    ASSERT_EQ(date.size(), 29u) << date;
    EXPECT_EQ(date.substr(25), " GMT");
    EXPECT_EQ(date[3], ',');
}

TEST_P(framing, a_chunk_size_line_over_its_limit_is_malformed_400_not_413)
{
    // 4,097 bytes of chunk-size line: one past the limit, and no CRLF yet.
    expect_refused_and_closed(std::string{"GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e="} +
                                  std::string(4093, 'e'),
                              400, "chunk-size line exceeds 4096 bytes");
}

/// One connection's worth of a hostile shape: what the server answers, and how far its
/// peak RSS rose. Without a bound, each of these made it buffer everything it was sent.
struct hostile_shape
{
    char const* name;
    std::string head;
    char filler;
    unsigned status;
};

TEST_P(framing, no_connection_can_make_the_server_hold_more_than_its_limits)
{
    constexpr std::size_t payload = 48u << 20;
    // Buffers are the header limit plus 4 KiB each; the slack allows for the allocator,
    // sanitizer shadow memory and the test's own connections, far below the payload.
    constexpr std::uint64_t slack_kib = 16 * 1024;
    std::string const chunked_head = "GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (auto const& shape :
         {hostile_shape{"chunk extension", chunked_head + "5;ext=", 'e', 400}, hostile_shape{"leading zeros", chunked_head, '0', 400},
          hostile_shape{"trailers", chunked_head + "0\r\nX-T: ", 't', 431},
          hostile_shape{"header", "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-H: ", 'h', 431}}) {
        auto const before = proc_status_kib(server_.pid(), "VmHWM");
        http_client client{server_.port()};
        client.send_while_open(shape.head + std::string(payload, shape.filler));
        auto r = client.read_reply();
        EXPECT_EQ(r.status, shape.status) << shape.name << ": " << r.body;
        EXPECT_FALSE(r.keep_alive) << shape.name;
        auto const after = proc_status_kib(server_.pid(), "VmHWM");
        EXPECT_LT(after - before, slack_kib) << shape.name << ": peak RSS grew from " << before << " to " << after << " kB";
    }
    http_client client{server_.port()};
    EXPECT_EQ(client.get("/plaintext").status, 200u);
}

INSTANTIATE_TEST_SUITE_P(all_models, framing, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
