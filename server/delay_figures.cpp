#include "server/delay_figures.hpp"

namespace cvp {

namespace {
/// Prometheus's bounds for delay histograms, in seconds.
constexpr double bucket_bounds_s[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
} // namespace

lag_snapshot delay_summary(latency_histogram const& h) noexcept
{
    auto const s = h.summary();
    return {s.count, s.min, s.p50, s.p99, s.max, s.mean};
}

delay_buckets prometheus_buckets(latency_histogram const& h)
{
    delay_buckets b;
    for (auto bound : bucket_bounds_s)
        b.at_most.emplace_back(bound, h.count_at_most(static_cast<std::uint64_t>(bound * 1e6)));
    b.sum_s = static_cast<double>(h.sum_us()) / 1e6;
    return b;
}

} // namespace cvp
