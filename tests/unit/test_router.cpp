#include "handlers/router.hpp"
#include "tests/unit/stats_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;
using cvp::reply;
using cvp::work_fn;
using cvp::work_kind;
using cvp::work_record;

/// The worker id the inline runner reports.
constexpr int fixed_worker = 3;

/// Runs work inline, at once, and reports it with fixed, recognisable times.
class inline_runner final : public cvp::work_runner
{
public:
    asio::awaitable<std::optional<work_record>> run(work_kind kind, work_fn fn) override
    {
        kinds.push_back(kind);
        fn();
        co_return work_record{fixed_worker, 1000, 1050, 1400, 300};
    }

    asio::awaitable<std::optional<std::vector<work_record>>> run_all(work_kind kind, std::vector<work_fn> fns) override
    {
        kinds.push_back(kind);
        std::vector<work_record> records;
        for (std::size_t i = 0; i < fns.size(); ++i) {
            fns[i]();
            // Chunk i on worker fixed_worker + i, started 10 ns after the one before it.
            auto const n = static_cast<std::int64_t>(i);
            records.push_back(work_record{fixed_worker + static_cast<int>(i), 1000, 1050 + 10 * n, 1400 + 10 * n, 300 + n});
        }
        co_return records;
    }

    /// The kind of each run/run_all call, in order.
    std::vector<work_kind> kinds;
};

/// A model whose pool queue is always full: refuses all work, runs nothing.
class overloaded_runner final : public cvp::work_runner
{
public:
    asio::awaitable<std::optional<work_record>> run(work_kind, work_fn) override
    {
        ++refused;
        co_return std::nullopt;
    }

    asio::awaitable<std::optional<std::vector<work_record>>> run_all(work_kind, std::vector<work_fn>) override
    {
        ++refused;
        co_return std::nullopt;
    }

    int refused = 0;
};

using cvp::test::api_stats;

/// A server with fixed stats and a drain flag the test sets.
class fake_server final : public cvp::server_view
{
public:
    cvp::stats_snapshot stats() const override { return api_stats(); }
    bool draining() const noexcept override { return draining_; }

    bool draining_ = false;
};

/// Routes one request through default_router() on a fresh io_context.
class RouterTest : public testing::Test
{
protected:
    reply dispatch(http::verb method, std::string_view target_text, cvp::work_runner& with)
    {
        cvp::request req{method, target_text, 11};
        cvp::request_context ctx{req, "single", loop_worker, with, server};
        asio::io_context io;
        auto done = asio::co_spawn(io, cvp::default_router().dispatch(ctx), asio::use_future);
        io.run();
        return done.get();
    }

    reply get(std::string_view target_text) { return dispatch(http::verb::get, target_text, runner); }

    /// A GET that records a failure, rather than ending the test, when dispatch throws.
    std::optional<reply> get_no_throw(std::string_view target_text)
    {
        try {
            return get(target_text);
        } catch (std::exception const& e) {
            ADD_FAILURE() << target_text << ": dispatch threw: " << e.what();
        }
        return std::nullopt;
    }

    /// A GET whose reply must be a JSON error with `status`; returns the body.
    json expect_error(std::string_view target_text, http::status status)
    {
        auto const r = get(target_text);
        EXPECT_EQ(r.status, status) << target_text;
        EXPECT_EQ(r.content_type, "application/json") << target_text;
        auto body = json::parse(r.body, nullptr, false);
        EXPECT_FALSE(body.is_discarded()) << target_text << ": " << r.body;
        if (body.is_discarded())
            return json{};
        EXPECT_EQ(body.value("status", 0u), static_cast<unsigned>(status)) << r.body;
        EXPECT_TRUE(body.contains("error") && body["error"].is_string() && !body["error"].get<std::string>().empty()) << r.body;
        return body;
    }

    /// A GET that must be a 400 naming `parameter`.
    void expect_bad_parameter(std::string_view target_text, std::string_view parameter)
    {
        SCOPED_TRACE(target_text);
        auto const body = expect_error(target_text, http::status::bad_request);
        EXPECT_EQ(body.value("parameter", std::string{}), parameter) << body.dump();
        EXPECT_NE(body.value("error", std::string{}).find(parameter), std::string::npos) << body.dump();
    }

    /// The value of header `field` in `r`, if any.
    static std::optional<std::string> header(reply const& r, http::field field)
    {
        auto it = std::find_if(r.headers.begin(), r.headers.end(), [&](auto const& h) { return h.first == field; });
        if (it == r.headers.end())
            return std::nullopt;
        return it->second;
    }

    static json body_of(reply const& r)
    {
        auto body = json::parse(r.body, nullptr, false);
        EXPECT_FALSE(body.is_discarded()) << r.body;
        return body;
    }

    int loop_worker = 0;
    inline_runner runner;
    fake_server server;
};

//------------------------------------------------------------------------------
// Routing

TEST_F(RouterTest, RegistersEveryDocumentedPath)
{
    auto const paths = cvp::default_router().paths();
    for (char const* path : {"/plaintext",
                             "/json",
                             "/cpu/pbkdf2",
                             "/cpu/primes",
                             "/io/sleep",
                             "/io/block",
                             "/io/http",
                             "/db/query",
                             "/db/queries",
                             "/db/query-blocking",
                             "/mixed",
                             "/state/counter",
                             "/state/counter/value",
                             "/state/transfer",
                             "/state/accounts",
                             "/state/reset",
                             "/healthz",
                             "/readyz",
                             "/stats",
                             "/stats/timeline",
                             "/metrics",
                             "/dashboard",
                             "/dashboard/chart.js"})
        EXPECT_NE(std::find(paths.begin(), paths.end(), path), paths.end()) << path;
    EXPECT_EQ(paths.size(), 23u);
}

TEST_F(RouterTest, UnknownPathIs404WithAJsonError)
{
    for (char const* path : {"/", "/nope", "/plaintext/", "/PLAINTEXT", "/cpu", "/cpu/pbkdf2/extra", "//plaintext"}) {
        SCOPED_TRACE(path);
        auto const body = expect_error(path, http::status::not_found);
        EXPECT_FALSE(body.contains("parameter")) << body.dump();
    }
}

TEST_F(RouterTest, UnknownPathIs404WhateverTheQuery)
{
    expect_error("/nope?x=1", http::status::not_found);
}

TEST_F(RouterTest, OtherMethodsAre405WithAllow)
{
    for (auto method : {http::verb::post, http::verb::put, http::verb::delete_, http::verb::patch, http::verb::options}) {
        SCOPED_TRACE(http::to_string(method));
        auto const r = dispatch(method, "/plaintext", runner);
        EXPECT_EQ(r.status, http::status::method_not_allowed);
        EXPECT_EQ(header(r, http::field::allow), "GET, HEAD");
        auto const body = body_of(r);
        EXPECT_EQ(body.value("status", 0u), 405u);
        EXPECT_FALSE(r.close) << "a 405 keeps the connection";
    }
}

TEST_F(RouterTest, OtherMethodsDoNotRunWork)
{
    auto const r = dispatch(http::verb::post, "/cpu/pbkdf2?iterations=1", runner);
    EXPECT_EQ(r.status, http::status::method_not_allowed);
    EXPECT_TRUE(runner.kinds.empty());
    EXPECT_FALSE(r.work.has_value());
}

TEST_F(RouterTest, HeadIsAccepted)
{
    auto const r = dispatch(http::verb::head, "/plaintext", runner);
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(r.content_type, "text/plain");
    EXPECT_FALSE(header(r, http::field::allow).has_value());
}

TEST_F(RouterTest, HeadRunsCpuEndpoints)
{
    auto const r = dispatch(http::verb::head, "/cpu/pbkdf2?iterations=1", runner);
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_TRUE(r.work.has_value());
}

TEST_F(RouterTest, MalformedTargetIs400)
{
    for (char const* bad : {"ftp://x/", "example.com:80", "*", "/plaintext?x=%zz", "/plain%2", "plaintext"}) {
        SCOPED_TRACE(bad);
        auto const body = expect_error(bad, http::status::bad_request);
        EXPECT_FALSE(body.contains("parameter")) << body.dump();
    }
}

TEST_F(RouterTest, PercentEncodedPathIsDecodedBeforeRouting)
{
    auto const r = get("/plain%74ext");
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(r.body, "Hello, World!");
}

// Bytes that are not UTF-8 must still get a JSON error reply: the error message quotes the
// decoded path, parameter name or value, and nlohmann::json::dump() throws type_error 316
// on invalid UTF-8 unless told to replace it.
TEST_F(RouterTest, InvalidUtf8InPathIs404NotAnException)
{
    auto const r = get_no_throw("/%FF");
    ASSERT_TRUE(r.has_value()) << "a 404 must not turn into an exception (a 500 in the session)";
    EXPECT_EQ(r->status, http::status::not_found);
    EXPECT_FALSE(json::parse(r->body, nullptr, false).is_discarded()) << r->body;
}

TEST_F(RouterTest, InvalidUtf8InParameterIs400NotAnException)
{
    // An unknown parameter's name, and a non-numeric value, are quoted in the message.
    for (char const* target_text : {"/plaintext?%FF=1", "/cpu/pbkdf2?iterations=%FF"}) {
        SCOPED_TRACE(target_text);
        auto const r = get_no_throw(target_text);
        if (!r)
            continue; // get_no_throw has reported the exception
        EXPECT_EQ(r->status, http::status::bad_request);
        EXPECT_FALSE(json::parse(r->body, nullptr, false).is_discarded()) << r->body;
    }
}

//------------------------------------------------------------------------------
// Endpoints without work

TEST_F(RouterTest, Plaintext)
{
    auto const r = get("/plaintext");
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(r.content_type, "text/plain");
    EXPECT_EQ(r.body, "Hello, World!");
    EXPECT_FALSE(r.work.has_value());
    EXPECT_FALSE(r.close);
    EXPECT_TRUE(runner.kinds.empty());
}

TEST_F(RouterTest, Json)
{
    auto const r = get("/json");
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(body_of(r), (json{{"message", "Hello, World!"}}));
    EXPECT_FALSE(r.work.has_value());
}

TEST_F(RouterTest, Healthz)
{
    auto const r = get("/healthz");
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(body_of(r), (json{{"status", "ok"}}));
}

TEST_F(RouterTest, ReadyzIs200ThenIs503WhileDraining)
{
    auto const ready = get("/readyz");
    EXPECT_EQ(ready.status, http::status::ok);
    EXPECT_EQ(body_of(ready), (json{{"ready", true}}));

    server.draining_ = true;
    auto const draining = get("/readyz");
    EXPECT_EQ(draining.status, http::status::service_unavailable);
    EXPECT_EQ(body_of(draining), (json{{"ready", false}, {"error", "draining"}}));
}

TEST_F(RouterTest, StatsPassesTheServerViewThrough)
{
    auto const r = get("/stats");
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(body_of(r), cvp::to_json(api_stats()));
}

TEST_F(RouterTest, MetricsIsPrometheusText)
{
    auto const r = get("/metrics");
    EXPECT_EQ(r.status, http::status::ok);
    EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << r.content_type;
    EXPECT_NE(r.body.find("# TYPE cvp_requests_total counter"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("cvp_requests_total{mode=\"offload\",worker=\"0\",kind=\"loop\"} 10\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("cvp_pool_threads 1\n"), std::string::npos) << r.body;
}

TEST_F(RouterTest, EmptyQueryIsNoParameter)
{
    for (char const* target_text : {"/plaintext?", "/plaintext?&", "/json?"})
        EXPECT_EQ(get(target_text).status, http::status::ok) << target_text;
}

TEST_F(RouterTest, EndpointsWithoutParametersRejectAnyParameter)
{
    for (char const* path : {"/plaintext", "/json", "/healthz", "/readyz", "/stats", "/metrics", "/dashboard", "/dashboard/chart.js"}) {
        expect_bad_parameter(std::string{path} + "?x=1", "x");
        expect_bad_parameter(std::string{path} + "?x", "x");
    }
}

//------------------------------------------------------------------------------
// /cpu/pbkdf2

TEST_F(RouterTest, Pbkdf2MatchesRfc7914)
{
    auto const r = get("/cpu/pbkdf2?iterations=1&length=64&password=passwd&salt=salt");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("hash", std::string{}), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                                                 "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    EXPECT_EQ(body.value("iterations", 0u), 1u);
    EXPECT_EQ(body.value("length", 0u), 64u);
}

TEST_F(RouterTest, Pbkdf2ReportsWhereTheWorkRan)
{
    auto const r = get("/cpu/pbkdf2?iterations=1&length=64&password=passwd&salt=salt");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    ASSERT_TRUE(r.work.has_value());
    EXPECT_EQ(r.work->worker, fixed_worker);
    EXPECT_EQ(r.work->start_ns, 1050);
    EXPECT_EQ(r.work->end_ns, 1400);
    ASSERT_EQ(runner.kinds.size(), 1u);
    EXPECT_EQ(runner.kinds[0], work_kind::cpu);

    // The work object of docs/API.md.
    auto const body = body_of(r);
    EXPECT_EQ(body.value("mode", std::string{}), "single");
    EXPECT_EQ(body.value("worker", -1), fixed_worker);
    EXPECT_EQ(body.value("queue_ns", -1), 50);
    EXPECT_EQ(body.value("start_ns", -1), 1050);
    EXPECT_EQ(body.value("end_ns", -1), 1400);
    EXPECT_EQ(body.value("cpu_ns", -1), 300);
}

TEST_F(RouterTest, Pbkdf2Defaults)
{
    // password "password", salt "salt", length 32:
    // hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 1, 32).hex()
    auto const r = get("/cpu/pbkdf2?iterations=1");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("length", 0u), 32u);
    EXPECT_EQ(body.value("hash", std::string{}), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
}

TEST_F(RouterTest, Pbkdf2DecodesPasswordAndSalt)
{
    // '+' and %20 both decode to a space, %26 to '&', %4E%61 to "Na": the same key either way.
    auto const plain = body_of(get("/cpu/pbkdf2?iterations=2&password=a+b%26c&salt=%4E%61Cl"));
    auto const expected = body_of(get("/cpu/pbkdf2?iterations=2&password=a%20b%26c&salt=NaCl"));
    ASSERT_TRUE(plain.contains("hash"));
    EXPECT_EQ(plain["hash"], expected["hash"]);
}

TEST_F(RouterTest, Pbkdf2ParameterErrors)
{
    expect_bad_parameter("/cpu/pbkdf2", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?length=32", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=abc", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=-1", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=0", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1000001", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=99999999999999999999999", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&iterations=1", "iterations");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&length=0", "length");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&length=129", "length");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&length=-1", "length");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&length=x", "length");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&password=" + std::string(257, 'p'), "password");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&salt=" + std::string(257, 's'), "salt");
    expect_bad_parameter("/cpu/pbkdf2?iterations=1&iteration=5", "iteration");
    EXPECT_TRUE(runner.kinds.empty()) << "no work runs for a bad request";
}

TEST_F(RouterTest, Pbkdf2AcceptsItsCaps)
{
    auto const r = get("/cpu/pbkdf2?iterations=1&length=128&password=" + std::string(256, 'p') + "&salt=" + std::string(256, 's'));
    EXPECT_EQ(r.status, http::status::ok) << r.body;
    EXPECT_EQ(body_of(r).value("hash", std::string{}).size(), 256u);
}

//------------------------------------------------------------------------------
// /cpu/primes

TEST_F(RouterTest, PrimesSplitIntoFourChunks)
{
    auto const r = get("/cpu/primes?limit=1000000&split=4");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("count", 0u), 78498u);
    EXPECT_EQ(body.value("limit", 0u), 1'000'000u);
    EXPECT_EQ(body.value("split", 0u), 4u);
    ASSERT_EQ(runner.kinds.size(), 1u);
    EXPECT_EQ(runner.kinds[0], work_kind::cpu);

    // The chunks tile [2, limit + 1) in order, and their counts add up.
    auto const& chunks = body.at("chunks");
    ASSERT_TRUE(chunks.is_array());
    ASSERT_EQ(chunks.size(), 4u);
    std::uint64_t next = 2;
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        auto const& c = chunks[i];
        EXPECT_EQ(c.at("lo").get<std::uint64_t>(), next) << "chunk " << i;
        EXPECT_GT(c.at("hi").get<std::uint64_t>(), c.at("lo").get<std::uint64_t>()) << "chunk " << i;
        next = c.at("hi").get<std::uint64_t>();
        sum += c.at("count").get<std::uint64_t>();
        EXPECT_EQ(c.at("worker").get<int>(), fixed_worker + static_cast<int>(i));
        for (char const* field : {"queue_ns", "start_ns", "end_ns", "cpu_ns"})
            EXPECT_TRUE(c.contains(field)) << "chunk " << i << " lacks " << field;
    }
    EXPECT_EQ(next, 1'000'001u);
    EXPECT_EQ(sum, 78498u);
}

TEST_F(RouterTest, PrimesSpanCoversAllChunks)
{
    auto const r = get("/cpu/primes?limit=1000&split=4");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("count", 0u), 168u);
    // inline_runner: chunk i starts at 1050 + 10i, ends at 1400 + 10i, uses 300 + i ns.
    EXPECT_EQ(body.value("worker", -1), fixed_worker) << "the first chunk's worker";
    EXPECT_EQ(body.value("start_ns", -1), 1050);
    EXPECT_EQ(body.value("end_ns", -1), 1430);
    EXPECT_EQ(body.value("cpu_ns", -1), 300 + 301 + 302 + 303);
    EXPECT_EQ(body.value("mode", std::string{}), "single");
    ASSERT_TRUE(r.work.has_value());
    EXPECT_EQ(r.work->start_ns, 1050);
    EXPECT_EQ(r.work->end_ns, 1430);
    EXPECT_EQ(r.work->cpu_ns, 1206);
}

TEST_F(RouterTest, PrimesDefaultsToOneChunk)
{
    auto const r = get("/cpu/primes?limit=100");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("count", 0u), 25u);
    EXPECT_EQ(body.value("split", 0u), 1u);
    ASSERT_EQ(body.at("chunks").size(), 1u);
    EXPECT_EQ(body["chunks"][0].value("lo", 0u), 2u);
    EXPECT_EQ(body["chunks"][0].value("hi", 0u), 101u);
}

TEST_F(RouterTest, PrimesWithMoreChunksThanNumbers)
{
    // [2, 4) holds 2 and 3; 62 of the 64 chunks are empty.
    auto const r = get("/cpu/primes?limit=3&split=64");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("count", 0u), 2u);
    EXPECT_EQ(body.at("chunks").size(), 64u);
}

TEST_F(RouterTest, PrimesParameterErrors)
{
    expect_bad_parameter("/cpu/primes", "limit");
    expect_bad_parameter("/cpu/primes?split=2", "limit");
    expect_bad_parameter("/cpu/primes?limit=ten", "limit");
    expect_bad_parameter("/cpu/primes?limit=-1", "limit");
    expect_bad_parameter("/cpu/primes?limit=0", "limit");
    expect_bad_parameter("/cpu/primes?limit=100000001", "limit");
    expect_bad_parameter("/cpu/primes?limit=99999999999999999999999", "limit");
    expect_bad_parameter("/cpu/primes?limit=10&split=0", "split");
    expect_bad_parameter("/cpu/primes?limit=10&split=65", "split");
    expect_bad_parameter("/cpu/primes?limit=10&split=-1", "split");
    expect_bad_parameter("/cpu/primes?limit=10&split=two", "split");
    expect_bad_parameter("/cpu/primes?limit=10&split=1&split=2", "split");
    expect_bad_parameter("/cpu/primes?limit=10&splits=2", "splits");
    EXPECT_TRUE(runner.kinds.empty()) << "no work runs for a bad request";
}

//------------------------------------------------------------------------------
// /io/sleep, /io/block, /mixed

TEST_F(RouterTest, IoSleepZeroCompletes)
{
    loop_worker = 5;
    auto const r = get("/io/sleep?ms=0");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    auto const body = body_of(r);
    EXPECT_EQ(body.value("ms", 1u), 0u);
    EXPECT_EQ(body.value("worker", -1), 5) << "the serving loop";
    EXPECT_EQ(body.value("mode", std::string{}), "single");
    EXPECT_GT(body.value("start_ns", std::int64_t{0}), 0);
    EXPECT_LE(body.value("start_ns", std::int64_t{0}), body.value("end_ns", std::int64_t{0}));
    EXPECT_FALSE(r.work.has_value()) << "a timer wait is not work";
    EXPECT_TRUE(runner.kinds.empty()) << "a timer wait holds no thread";
}

TEST_F(RouterTest, IoSleepParameterErrors)
{
    expect_bad_parameter("/io/sleep", "ms");
    expect_bad_parameter("/io/sleep?ms=x", "ms");
    expect_bad_parameter("/io/sleep?ms=-1", "ms");
    expect_bad_parameter("/io/sleep?ms=60001", "ms");
    expect_bad_parameter("/io/sleep?ms=99999999999999999999999", "ms");
    expect_bad_parameter("/io/sleep?ms=0&seconds=1", "seconds");
}

TEST_F(RouterTest, IoBlockRunsBlockingWork)
{
    auto const r = get("/io/block?ms=0");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    ASSERT_EQ(runner.kinds.size(), 1u);
    EXPECT_EQ(runner.kinds[0], work_kind::blocking);
    ASSERT_TRUE(r.work.has_value());
    EXPECT_EQ(r.work->worker, fixed_worker);
    auto const body = body_of(r);
    EXPECT_EQ(body.value("ms", 1u), 0u);
    EXPECT_EQ(body.value("worker", -1), fixed_worker);
}

TEST_F(RouterTest, IoBlockParameterErrors)
{
    expect_bad_parameter("/io/block", "ms");
    expect_bad_parameter("/io/block?ms=x", "ms");
    expect_bad_parameter("/io/block?ms=-1", "ms");
    expect_bad_parameter("/io/block?ms=10001", "ms");
    expect_bad_parameter("/io/block?ms=0&x=1", "x");
    EXPECT_TRUE(runner.kinds.empty());
}

TEST_F(RouterTest, MixedSleepsThenHashes)
{
    auto const r = get("/mixed?ms=0&iterations=1");
    ASSERT_EQ(r.status, http::status::ok) << r.body;
    ASSERT_EQ(runner.kinds.size(), 1u);
    EXPECT_EQ(runner.kinds[0], work_kind::cpu);
    ASSERT_TRUE(r.work.has_value());
    auto const body = body_of(r);
    EXPECT_EQ(body.value("hash", std::string{}), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    EXPECT_EQ(body.value("iterations", 0u), 1u);
    EXPECT_EQ(body.value("ms", 1u), 0u);
    ASSERT_TRUE(body.contains("sleep"));
    EXPECT_LE(body["sleep"].value("start_ns", std::int64_t{1}), body["sleep"].value("end_ns", std::int64_t{0}));
}

TEST_F(RouterTest, MixedParameterErrors)
{
    expect_bad_parameter("/mixed", "ms");
    expect_bad_parameter("/mixed?iterations=1", "ms");
    expect_bad_parameter("/mixed?ms=0", "iterations");
    expect_bad_parameter("/mixed?ms=x&iterations=1", "ms");
    expect_bad_parameter("/mixed?ms=-1&iterations=1", "ms");
    expect_bad_parameter("/mixed?ms=60001&iterations=1", "ms");
    expect_bad_parameter("/mixed?ms=0&iterations=0", "iterations");
    expect_bad_parameter("/mixed?ms=0&iterations=-1", "iterations");
    expect_bad_parameter("/mixed?ms=0&iterations=1000001", "iterations");
    expect_bad_parameter("/mixed?ms=0&iterations=1&length=5", "length");
    EXPECT_TRUE(runner.kinds.empty());
}

//------------------------------------------------------------------------------
// Overload

TEST_F(RouterTest, RefusedWorkIs503WithRetryAfter)
{
    overloaded_runner full;
    for (char const* target_text :
         {"/cpu/pbkdf2?iterations=1", "/cpu/primes?limit=100&split=2", "/io/block?ms=0", "/mixed?ms=0&iterations=1"}) {
        SCOPED_TRACE(target_text);
        auto const r = dispatch(http::verb::get, target_text, full);
        EXPECT_EQ(r.status, http::status::service_unavailable);
        EXPECT_EQ(header(r, http::field::retry_after), "1");
        EXPECT_FALSE(r.work.has_value());
        EXPECT_FALSE(r.close) << "a 503 for a full queue keeps the connection";
        auto const body = body_of(r);
        EXPECT_EQ(body.value("status", 0u), 503u);
        EXPECT_TRUE(body.contains("error"));
    }
    EXPECT_EQ(full.refused, 4);
}

TEST_F(RouterTest, EndpointsWithoutWorkIgnoreOverload)
{
    overloaded_runner full;
    EXPECT_EQ(dispatch(http::verb::get, "/plaintext", full).status, http::status::ok);
    EXPECT_EQ(dispatch(http::verb::get, "/io/sleep?ms=0", full).status, http::status::ok);
    EXPECT_EQ(full.refused, 0);
}

TEST_F(RouterTest, BadParametersAreCheckedBeforeAdmission)
{
    overloaded_runner full;
    auto const r = dispatch(http::verb::get, "/cpu/pbkdf2?iterations=0", full);
    EXPECT_EQ(r.status, http::status::bad_request);
    EXPECT_EQ(full.refused, 0);
}

} // namespace
