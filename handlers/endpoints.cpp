/// The endpoints. Each is a function from a request to a reply; CPU and blocking work is
/// handed to the work_runner, which the execution model supplies.

#include "common/clock.hpp"
#include "handlers/dashboard_endpoint.hpp"
#include "handlers/downstream_reply.hpp"
#include "handlers/endpoint_replies.hpp"
#include "handlers/kernels.hpp"
#include "handlers/metrics.hpp"
#include "handlers/router.hpp"
#include "handlers/shared_state.hpp"
#include "handlers/state_endpoints.hpp"
#include "handlers/timeline_endpoint.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace cvp {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

// Caps on every parameter; documented in docs/API.md and the README.
constexpr std::uint64_t max_iterations = 1'000'000;
constexpr std::uint64_t max_key_length = 128;
constexpr std::size_t max_secret_bytes = 256;
constexpr std::uint64_t max_primes_limit = 100'000'000;
constexpr std::uint64_t max_split = 64;
constexpr std::uint64_t max_sleep_ms = 60'000;
constexpr std::uint64_t max_block_ms = 10'000;
constexpr std::uint64_t max_queries = 500;
/// Rows of `world` (scripts/postgres fills ids 1..10,000).
constexpr std::int32_t world_rows = 10'000;

/// Runs one PBKDF2 derivation where the model runs CPU work.
asio::awaitable<std::optional<work_record>> derive(request_context& ctx, std::string const& password, std::string const& salt,
                                                   std::uint64_t iterations, std::uint64_t length, std::string& hash)
{
    work_fn job = [&] { hash = pbkdf2_sha256_hex(password, salt, static_cast<std::uint32_t>(iterations), length); };
    auto op = ctx.runner.run(work_kind::cpu, std::move(job));
    co_return co_await std::move(op);
}

asio::awaitable<reply> plaintext(request_context&, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    reply r;
    r.content_type = "text/plain";
    r.body = "Hello, World!";
    co_return r;
}

asio::awaitable<reply> hello_json(request_context&, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    co_return json_reply(json{{"message", "Hello, World!"}});
}

asio::awaitable<reply> pbkdf2(request_context& ctx, target const& t)
{
    // Validate.
    param_reader p{t.params};
    auto const iterations = p.number("iterations", 1, max_iterations);
    auto const length = p.number("length", 1, max_key_length, 32);
    auto const password = p.text("password", max_secret_bytes, "password");
    auto const salt = p.text("salt", max_secret_bytes, "salt");
    if (auto err = p.finish())
        co_return bad_parameter(*err);

    // Derive where the model runs CPU work.
    std::string hash;
    auto work = co_await derive(ctx, password, salt, iterations, length, hash);
    if (!work)
        co_return overloaded();

    auto body = work_json(ctx.mode, *work);
    body["iterations"] = iterations;
    body["length"] = length;
    body["hash"] = hash;
    auto r = json_reply(body);
    r.work = work;
    co_return r;
}

asio::awaitable<reply> primes(request_context& ctx, target const& t)
{
    // Validate.
    param_reader p{t.params};
    auto const limit = p.number("limit", 1, max_primes_limit);
    auto const split = p.number("split", 1, max_split, 1);
    if (auto err = p.finish())
        co_return bad_parameter(*err);

    // One job per chunk of [2, limit]; the model decides whether they overlap.
    auto const ranges = split_range(2, limit + 1, split);
    std::vector<std::uint64_t> counts(ranges.size());
    std::vector<work_fn> jobs;
    for (std::size_t i = 0; i < ranges.size(); ++i)
        jobs.emplace_back([&counts, &ranges, i] { counts[i] = count_primes(ranges[i].first, ranges[i].second); });
    auto op = ctx.runner.run_all(work_kind::cpu, std::move(jobs));
    auto records = co_await std::move(op);
    if (!records)
        co_return overloaded();

    // Report each chunk, and the span of all of them.
    json chunks = json::array();
    std::uint64_t total = 0;
    work_record span = records->front();
    span.cpu_ns = 0;
    for (std::size_t i = 0; i < records->size(); ++i) {
        auto const& w = (*records)[i];
        auto chunk = work_json(ctx.mode, w);
        chunk.erase("mode");
        chunk["lo"] = ranges[i].first;
        chunk["hi"] = ranges[i].second;
        chunk["count"] = counts[i];
        chunks.push_back(std::move(chunk));
        total += counts[i];
        span.start_ns = std::min(span.start_ns, w.start_ns);
        span.end_ns = std::max(span.end_ns, w.end_ns);
        span.cpu_ns += w.cpu_ns;
    }
    auto body = work_json(ctx.mode, span);
    body["limit"] = limit;
    body["split"] = split;
    body["count"] = total;
    body["chunks"] = std::move(chunks);
    auto r = json_reply(body);
    r.work = span;
    co_return r;
}

asio::awaitable<reply> io_sleep(request_context& ctx, target const& t)
{
    param_reader p{t.params};
    auto const ms = p.number("ms", 0, max_sleep_ms);
    if (auto err = p.finish())
        co_return bad_parameter(*err);

    // Wait where the model waits for a downstream call.
    auto const w = co_await ctx.runner.wait(std::chrono::milliseconds{ms});
    co_return json_reply(json{{"mode", ctx.mode}, {"worker", ctx.loop_worker}, {"ms", ms}, {"start_ns", w.start_ns}, {"end_ns", w.end_ns}});
}

asio::awaitable<reply> io_http(request_context& ctx, target const& t)
{
    param_reader p{t.params};
    auto const ms = p.number("ms", 0, max_sleep_ms);
    if (auto err = p.finish())
        co_return bad_parameter(*err);
    if (ctx.downstream == nullptr)
        co_return error_reply(http::status::service_unavailable, "no downstream: start the server with --upstream http://HOST:PORT");

    // Ask the downstream to wait as long: a second cvp-server serves /io/sleep.
    auto a = co_await ctx.downstream->get("/io/sleep?ms=" + std::to_string(ms));
    if (a.fault)
        co_return downstream_failure(ctx.downstream->origin(), a);
    if (a.status / 100 != 2)
        co_return downstream_status_failure(ctx.downstream->origin(), a);

    // What came back, and when the call had its connection and its answer.
    auto answer = json::parse(a.body, nullptr, false);
    if (answer.is_discarded())
        answer = a.body;
    auto r = json_reply(json{{"mode", ctx.mode},
                             {"worker", ctx.loop_worker},
                             {"ms", ms},
                             {"downstream", ctx.downstream->origin()},
                             {"status", a.status},
                             {"reused", a.reused},
                             {"attempts", a.attempts},
                             {"queued_ns", a.sent_ns - a.asked_ns},
                             {"start_ns", a.sent_ns},
                             {"end_ns", a.done_ns},
                             {"answer", std::move(answer)}});
    r.upstream_ns = a.done_ns - a.sent_ns;
    co_return r;
}

/// A random id of `world`, 1..10,000, from a generator of the calling thread's own.
std::int32_t random_world_id()
{
    thread_local std::uint64_t state = 0x9e3779b97f4a7c15ULL ^ static_cast<std::uint64_t>(monotonic_ns());
    // xorshift64*: fast, and good enough to spread reads over the table.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<std::int32_t>((state * 0x2545f4914f6cdd1dULL) >> 33) % world_rows + 1;
}

/// A row as TechEmpower's tests want it.
json world_json(world_row const& row)
{
    return json{{"id", row.id}, {"randomNumber", row.random_number}};
}

/// 503 for /db/* when the server has no database.
reply no_database()
{
    return error_reply(http::status::service_unavailable, "no database: start the server with --db CONNINFO");
}

/// Reads `n` random rows on the non-blocking path: one object (/db/query) or an array
/// (/db/queries).
asio::awaitable<reply> read_worlds(request_context& ctx, std::size_t n, bool array)
{
    if (ctx.database == nullptr)
        co_return no_database();
    std::vector<std::int32_t> ids(n);
    for (auto& id : ids)
        id = random_world_id();
    auto a = co_await ctx.database->worlds(std::move(ids));
    if (a.fault)
        co_return database_failure(a);

    // The rows as TechEmpower's tests want them; the database's time in Server-Timing.
    json body = json::array();
    for (auto const& row : a.rows)
        body.push_back(world_json(row));
    auto r = json_reply(array ? body : body.at(0));
    r.upstream_ns = a.done_ns - a.sent_ns;
    co_return r;
}

asio::awaitable<reply> db_query(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    co_return co_await read_worlds(ctx, 1, false);
}

asio::awaitable<reply> db_queries(request_context& ctx, target const& t)
{
    param_reader p{t.params};
    auto const n = p.number("n", 1, max_queries);
    if (auto err = p.finish())
        co_return bad_parameter(*err);
    co_return co_await read_worlds(ctx, static_cast<std::size_t>(n), true);
}

asio::awaitable<reply> db_query_blocking(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    if (ctx.database == nullptr)
        co_return no_database();

    // Synchronous libpq, wherever the model runs blocking work: the lesson is which thread waits.
    db_answer a;
    work_fn job = [&a, db = ctx.database, id = random_world_id()] { a = db->world_blocking(id); };
    auto op = ctx.runner.run(work_kind::blocking, std::move(job));
    auto work = co_await std::move(op);
    if (!work)
        co_return overloaded();
    if (a.fault) {
        auto r = database_failure(a);
        r.work = work;
        co_return r;
    }
    auto r = json_reply(world_json(a.rows.at(0)));
    r.work = work;
    r.upstream_ns = a.done_ns - a.sent_ns;
    co_return r;
}

asio::awaitable<reply> io_block(request_context& ctx, target const& t)
{
    param_reader p{t.params};
    auto const ms = p.number("ms", 0, max_block_ms);
    if (auto err = p.finish())
        co_return bad_parameter(*err);

    // Block wherever the model runs blocking work.
    work_fn job = [ms] { blocking_sleep(std::chrono::milliseconds{ms}); };
    auto op = ctx.runner.run(work_kind::blocking, std::move(job));
    auto work = co_await std::move(op);
    if (!work)
        co_return overloaded();

    auto body = work_json(ctx.mode, *work);
    body["ms"] = ms;
    auto r = json_reply(body);
    r.work = work;
    co_return r;
}

asio::awaitable<reply> mixed(request_context& ctx, target const& t)
{
    param_reader p{t.params};
    auto const ms = p.number("ms", 0, max_sleep_ms);
    auto const iterations = p.number("iterations", 1, max_iterations);
    if (auto err = p.finish())
        co_return bad_parameter(*err);

    // First the downstream wait, then the CPU work on its result.
    auto const waited = co_await ctx.runner.wait(std::chrono::milliseconds{ms});
    std::string const password = "password";
    std::string const salt = "salt";
    std::string hash;
    auto work = co_await derive(ctx, password, salt, iterations, 32, hash);
    if (!work)
        co_return overloaded();

    auto body = work_json(ctx.mode, *work);
    body["ms"] = ms;
    body["iterations"] = iterations;
    body["hash"] = hash;
    body["sleep"] = json{{"start_ns", waited.start_ns}, {"end_ns", waited.end_ns}};
    auto r = json_reply(body);
    r.work = work;
    co_return r;
}

asio::awaitable<reply> healthz(request_context&, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    co_return json_reply(json{{"status", "ok"}});
}

asio::awaitable<reply> readyz(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    if (ctx.server.draining())
        co_return json_reply(json{{"ready", false}, {"error", "draining"}}, http::status::service_unavailable);
    co_return json_reply(json{{"ready", true}});
}

asio::awaitable<reply> stats(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    co_return json_reply(to_json(ctx.server.stats()));
}

asio::awaitable<reply> metrics(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = prometheus_text(ctx.server.stats()) + prometheus_state_text(process_state());
    co_return r;
}

router make_router()
{
    router r;
    r.get("/plaintext", &plaintext);
    r.get("/json", &hello_json);
    r.get("/cpu/pbkdf2", &pbkdf2, route_speed::may_wait);
    r.get("/cpu/primes", &primes, route_speed::may_wait);
    r.get("/io/sleep", &io_sleep, route_speed::may_wait);
    r.get("/io/block", &io_block, route_speed::may_wait);
    r.get("/io/http", &io_http, route_speed::may_wait);
    r.get("/db/query", &db_query, route_speed::may_wait);
    r.get("/db/queries", &db_queries, route_speed::may_wait);
    r.get("/db/query-blocking", &db_query_blocking, route_speed::may_wait);
    r.get("/mixed", &mixed, route_speed::may_wait);
    add_state_routes(r);
    r.get("/healthz", &healthz);
    r.get("/readyz", &readyz);
    r.get("/stats", &stats);
    add_timeline_routes(r);
    r.get("/metrics", &metrics);
    add_dashboard_routes(r);
    return r;
}

} // namespace

router const& default_router()
{
    static router const r = make_router();
    return r;
}

} // namespace cvp
