#include "handlers/state_endpoints.hpp"

#include "common/clock.hpp"
#include "handlers/endpoint_replies.hpp"
#include "handlers/shared_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <string>

namespace cvp {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

// Caps on every parameter; documented in docs/API.md.
constexpr std::uint64_t max_increments = 100'000;
constexpr std::uint64_t max_await_ms = 1'000;
/// `await` holds its connection n·ms: at most this long.
constexpr std::uint64_t max_await_total_ms = 10'000;
constexpr std::uint64_t max_amount = 1'000'000;
constexpr std::uint64_t max_hold_us = 100'000;
constexpr std::uint64_t max_lock_timeout_ms = 10'000;
constexpr std::uint64_t default_hold_us = 100;
constexpr std::uint64_t default_lock_timeout_ms = 50;
/// Longest parameter value worth naming back in an error.
constexpr std::size_t max_name_bytes = 32;

/// `await`: read, wait `ms` where the model waits for I/O, write what was read plus one; `n` times.
asio::awaitable<reply> await_counter(request_context& ctx, std::uint64_t n, std::uint64_t ms)
{
    auto& counters = process_state().counters;
    auto const start = monotonic_ns();
    auto const before = counters.await_read();
    for (std::uint64_t i = 0; i < n; ++i) {
        // Another request may write while this one waits: its update is then overwritten.
        auto const seen = counters.await_read();
        co_await ctx.runner.wait(std::chrono::milliseconds{ms});
        counters.await_write(seen);
    }
    auto const end = monotonic_ns();
    counters.count_asked(counter_strategy::await, n);
    co_return json_reply(json{{"mode", ctx.mode},
                              {"worker", ctx.loop_worker},
                              {"strategy", "await"},
                              {"n", n},
                              {"ms", ms},
                              {"before", before},
                              {"after", counters.await_read()},
                              {"start_ns", start},
                              {"end_ns", end}});
}

asio::awaitable<reply> state_counter(request_context& ctx, target const& t)
{
    // Validate: the strategy first, since it decides whether `ms` belongs.
    param_reader p{t.params};
    auto const name = p.text("strategy", max_name_bytes, "");
    auto const n = p.number("n", 1, max_increments, 1);
    auto const strategy = parse_counter_strategy(name);
    std::uint64_t ms = 0;
    if (strategy == counter_strategy::await)
        ms = p.number("ms", 0, max_await_ms, 1);
    auto const err = p.finish();
    if (err && err->parameter != "ms")
        co_return bad_parameter(*err);
    if (!strategy)
        co_return bad_parameter({"strategy", name.empty() ? "strategy is required: split, mutex, atomic, sharded or await"
                                                          : "strategy must be split, mutex, atomic, sharded or await"});
    if (err)
        co_return bad_parameter(*strategy == counter_strategy::await ? *err : param_error{"ms", "ms applies only to strategy=await"});
    if (strategy == counter_strategy::await && n * ms > max_await_total_ms)
        co_return bad_parameter({"n", "n times ms must be at most 10000: await holds its connection that long"});
    if (strategy == counter_strategy::await)
        co_return co_await await_counter(ctx, n, ms);

    // Increment where the model runs CPU work.
    std::pair<std::uint64_t, std::uint64_t> seen;
    work_fn job = [&seen, s = *strategy, n] { seen = process_state().counters.increment(s, n); };
    auto op = ctx.runner.run(work_kind::cpu, std::move(job));
    auto work = co_await std::move(op);
    if (!work)
        co_return overloaded();
    process_state().counters.count_asked(*strategy, n);

    auto body = work_json(ctx.mode, *work);
    body["strategy"] = to_string(*strategy);
    body["n"] = n;
    body["before"] = seen.first;
    body["after"] = seen.second;
    auto r = json_reply(body);
    r.work = work;
    co_return r;
}

asio::awaitable<reply> state_counter_value(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    json strategies = json::object();
    for (auto s : counter_strategies) {
        auto const c = process_state().counters.read(s);
        strategies[std::string{to_string(s)}] = json{{"value", c.value}, {"increments", c.increments}, {"lost", c.lost()}};
    }
    co_return json_reply(json{{"mode", ctx.mode}, {"strategies", std::move(strategies)}});
}

asio::awaitable<reply> state_transfer(request_context& ctx, target const& t)
{
    // Validate.
    param_reader p{t.params};
    auto const name = p.text("order", max_name_bytes, "");
    auto const from = p.number("from", 0, shared_accounts::count - 1);
    auto const to = p.number("to", 0, shared_accounts::count - 1);
    auto const amount = p.number("amount", 1, max_amount, 1);
    auto const hold_us = p.number("hold_us", 0, max_hold_us, default_hold_us);
    auto const order = parse_lock_order(name);
    std::uint64_t timeout_ms = 0;
    if (order == lock_order::naive)
        timeout_ms = p.number("timeout_ms", 1, max_lock_timeout_ms, default_lock_timeout_ms);
    auto const err = p.finish();
    if (err && err->parameter != "timeout_ms")
        co_return bad_parameter(*err);
    if (!order)
        co_return bad_parameter({"order", name.empty() ? "order is required: naive or ordered" : "order must be naive or ordered"});
    if (err)
        co_return bad_parameter(
            *order == lock_order::naive
                ? *err
                : param_error{"timeout_ms", "timeout_ms applies only to order=naive: ordered never gives up on a lock"});
    if (from == to)
        co_return bad_parameter({"to", "from and to must be different accounts"});

    // Move the money where the model runs blocking work: a lock wait holds the thread.
    transfer_outcome outcome;
    work_fn job = [&, o = *order] {
        outcome = process_state().accounts.transfer(o, static_cast<int>(from), static_cast<int>(to), static_cast<std::int64_t>(amount),
                                                    std::chrono::microseconds{hold_us}, std::chrono::milliseconds{timeout_ms});
    };
    auto op = ctx.runner.run(work_kind::blocking, std::move(job));
    auto work = co_await std::move(op);
    if (!work)
        co_return overloaded();

    auto body = work_json(ctx.mode, *work);
    body["order"] = to_string(*order);
    body["from"] = from;
    body["to"] = to;
    body["amount"] = amount;
    body["moved"] = outcome.moved;
    body["balances"] = json{{"from", outcome.from_balance}, {"to", outcome.to_balance}};
    auto status = http::status::ok;
    if (!outcome.moved) {
        // 409: the request conflicted with another transfer; retrying it may succeed.
        status = http::status::conflict;
        body["status"] = 409;
        body["error"] = "deadlock detected: held account " + std::to_string(from) + ", then waited " + std::to_string(timeout_ms) +
                        " ms for account " + std::to_string(to) + ", which another transfer holds (most likely waiting for account " +
                        std::to_string(from) + "); backed out, nothing moved";
    }
    auto r = json_reply(body, status);
    r.work = work;
    co_return r;
}

asio::awaitable<reply> state_accounts(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    auto const a = process_state().accounts.read();
    co_return json_reply(json{{"mode", ctx.mode},
                              {"accounts", a.balances},
                              {"total", a.total},
                              {"expected_total", a.expected_total},
                              {"transfers", {{"naive", a.naive_transfers}, {"ordered", a.ordered_transfers}}},
                              {"deadlocks_detected", a.deadlocks_detected}});
}

asio::awaitable<reply> state_reset(request_context&, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);
    process_state().counters.reset();
    process_state().accounts.reset();
    co_return json_reply(json{{"reset", true}});
}

} // namespace

void add_state_routes(router& r)
{
    r.get("/state/counter", &state_counter, route_speed::may_wait);
    r.get("/state/counter/value", &state_counter_value);
    r.get("/state/transfer", &state_transfer, route_speed::may_wait);
    r.get("/state/accounts", &state_accounts);
    r.post("/state/reset", &state_reset);
}

} // namespace cvp
