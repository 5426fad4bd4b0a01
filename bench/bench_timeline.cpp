/// What --timeline costs: the request path of a `single` server in this process with
/// recording off (the default) and on, and the recording call site on its own (the
/// model's runner alone, as with recording off, against the recording runner in front
/// of it), and one push into a ring.
///
///   build/release/cvp_bench_timeline --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
///       --benchmark_report_aggregates_only=true
///
/// docs/bench/timeline.json keeps the last run's figures.

#include "bench/loopback.hpp"
#include "handlers/work_timeline.hpp"
#include "server/asio.hpp"
#include "server/recording_runner.hpp"
#include "server/runners.hpp"

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <string_view>

namespace {

/// Events each worker keeps when recording is on: the ring is full and overwriting after
/// the warm-up, its steady state.
constexpr std::int64_t events_when_on = 4096;

/// Keep-alive requests for `request` to a `single` server whose --timeline is the
/// benchmark's argument (0: off).
void keep_alive(benchmark::State& state, std::string_view request, std::string_view body_end)
{
    cvp::config cfg;
    cfg.mode = cvp::mode::single;
    cfg.timeline_events = static_cast<std::size_t>(state.range(0));
    cvp::bench::in_process_server server{cfg};
    cvp::bench::raw_client client{server.port()};
    // Warm the recyclers, the allocator's caches and, when on, fill the ring.
    for (std::int64_t i = 0; i < events_when_on + 100; ++i)
        client.round_trip(request, body_end);
    for (auto _ : state)
        client.round_trip(request, body_end);
}

// One CPU interval per request (PBKDF2 of one iteration: the work itself is about 1 µs).
BENCHMARK_CAPTURE(keep_alive, cpu, "GET /cpu/pbkdf2?iterations=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "\"worker\":0}")
    ->ArgName("timeline")
    ->Arg(0)
    ->Arg(events_when_on)
    ->UseRealTime();
// One timer wait per request, of 0 ms: recorded as io-wait.
BENCHMARK_CAPTURE(keep_alive, wait, "GET /io/sleep?ms=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "\"worker\":0}")
    ->ArgName("timeline")
    ->Arg(0)
    ->Arg(events_when_on)
    ->UseRealTime();
// No work at all: only the exchange's test of the flag differs.
BENCHMARK_CAPTURE(keep_alive, plaintext, "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "Hello, World!")
    ->ArgName("timeline")
    ->Arg(0)
    ->Arg(events_when_on)
    ->UseRealTime();

/// Runs an empty piece of CPU work through `runner` once per iteration.
cvp::asio::awaitable<void> run_work(benchmark::State& state, cvp::work_runner& runner)
{
    for (auto _ : state) {
        auto op = runner.run(cvp::work_kind::cpu, [] {});
        auto record = co_await std::move(op);
        benchmark::DoNotOptimize(record);
    }
}

/// The call site: the model's runner itself (what a handler calls with recording off), or
/// the recording runner in front of it (on), driven by a loop on this thread.
void call_site(benchmark::State& state)
{
    cvp::asio::io_context ctx{1};
    cvp::inline_runner inline_runner;
    cvp::work_timeline timeline{static_cast<std::size_t>(events_when_on)};
    cvp::recording_runner recording{inline_runner, timeline, "/cpu/pbkdf2?iterations=1", 1};
    cvp::work_runner& runner = state.range(0) == 0 ? static_cast<cvp::work_runner&>(inline_runner) : recording;
    cvp::asio::co_spawn(ctx, run_work(state, runner), cvp::asio::detached);
    ctx.run();
}
BENCHMARK(call_site)->ArgName("timeline")->Arg(0)->Arg(events_when_on);

/// One event into a full ring: the part of recording that holds the ring's lock.
void ring_push(benchmark::State& state)
{
    cvp::timeline_ring ring{static_cast<std::size_t>(events_when_on)};
    cvp::timeline_event e;
    e.set_target("/cpu/pbkdf2?iterations=1");
    for (std::int64_t i = 0; i < events_when_on; ++i)
        ring.push(e);
    for (auto _ : state) {
        ++e.start_ns;
        ring.push(e);
    }
}
BENCHMARK(ring_push);

} // namespace

BENCHMARK_MAIN();
