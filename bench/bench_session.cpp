/// What cvp's own HTTP path costs per request, apart from any model's work: heap
/// allocations per keep-alive request on the real session (a `single` server in this
/// process, driven over loopback), and the time to build one response.
///
///   build/release/cvp_bench_session --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
///
/// Allocations are counted by interposing malloc, calloc, realloc and the aligned
/// allocators for the whole process; the
/// client below makes none of its own per request, so every one counted is the server's.

#include "bench/loopback.hpp"
#include "handlers/context.hpp"
#include "server/config.hpp"
#include "server/response_text.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string_view>

namespace {
std::atomic<std::uint64_t> allocations{0};
}

// Every heap allocation in the process goes through these.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
// Aligned operator new, which Asio uses for coroutine frames and operations, comes here.
void* aligned_alloc(std::size_t alignment, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    *out = __libc_memalign(alignment, n);
    return *out != nullptr ? 0 : ENOMEM;
}
void* memalign(std::size_t alignment, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
}

namespace {

void keep_alive_request(benchmark::State& state, std::string_view request, std::string_view body_end)
{
    cvp::config cfg;
    cfg.mode = cvp::mode::single;
    cvp::bench::in_process_server server{cfg};
    cvp::bench::raw_client client{server.port()};
    // Warm the recyclers and the allocator's caches.
    for (int i = 0; i < 100; ++i)
        client.round_trip(request, body_end);

    auto const before = allocations.load();
    for (auto _ : state)
        client.round_trip(request, body_end);
    auto const counted = allocations.load() - before;
    state.counters["allocs/request"] = static_cast<double>(counted) / static_cast<double>(state.iterations());
}

void plaintext_keep_alive(benchmark::State& state)
{
    keep_alive_request(state, "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "Hello, World!");
}
BENCHMARK(plaintext_keep_alive)->UseRealTime();

void json_keep_alive(benchmark::State& state)
{
    keep_alive_request(state, "GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "\"Hello, World!\"}");
}
BENCHMARK(json_keep_alive)->UseRealTime();

/// The status line, headers and body of a /plaintext answer, into a reused buffer.
void build_plaintext_response(benchmark::State& state)
{
    cvp::reply r;
    r.content_type = "text/plain";
    r.body = "Hello, World!";
    cvp::response_meta const meta{"single", 0, 0, 1, false, true};
    std::string out;
    out.reserve(1024);
    for (auto _ : state) {
        out.clear();
        cvp::append_response(out, r, meta);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(build_plaintext_response);

} // namespace

BENCHMARK_MAIN();
