/// What one unit of each CPU kernel costs on this machine: the figures the README quotes,
/// and what the load lab's request sizes are chosen from.
///
///   build/release/cvp_bench_kernels --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include "handlers/kernels.hpp"

#include <benchmark/benchmark.h>

namespace {

void pbkdf2_sha256(benchmark::State& state)
{
    auto const iterations = static_cast<std::uint32_t>(state.range(0));
    for (auto _ : state)
        benchmark::DoNotOptimize(cvp::pbkdf2_sha256_hex("password", "salt", iterations, 32));
    state.counters["iterations/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * iterations, benchmark::Counter::kIsRate);
}
BENCHMARK(pbkdf2_sha256)->Arg(1'000)->Arg(8'800)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond);

/// The call cvp made before: OpenSSL's PKCS5_PBKDF2_HMAC, beside ours for the ratio.
void pbkdf2_sha256_openssl_pkcs5(benchmark::State& state)
{
    auto const iterations = static_cast<std::uint32_t>(state.range(0));
    for (auto _ : state)
        benchmark::DoNotOptimize(cvp::pbkdf2_sha256_hex_openssl("password", "salt", iterations, 32));
    state.counters["iterations/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * iterations, benchmark::Counter::kIsRate);
}
BENCHMARK(pbkdf2_sha256_openssl_pkcs5)->Arg(8'800)->Unit(benchmark::kMicrosecond);

void count_primes(benchmark::State& state)
{
    auto const limit = static_cast<std::uint64_t>(state.range(0));
    for (auto _ : state)
        benchmark::DoNotOptimize(cvp::count_primes(2, limit + 1));
    state.counters["numbers/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(limit), benchmark::Counter::kIsRate);
}
BENCHMARK(count_primes)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
