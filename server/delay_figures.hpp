#pragma once

/// A delay histogram's figures as /stats and /metrics report them: a loop's lag and
/// offload's queue wait both come through here.

#include "common/latency_histogram.hpp"
#include "handlers/stats_snapshot.hpp"

namespace cvp {

/// count, min, p50, p99, max and mean, in microseconds.
lag_snapshot delay_summary(latency_histogram const& h) noexcept;

/// Prometheus's cumulative buckets at fixed bounds from 100 µs to 10 s, and the sum.
delay_buckets prometheus_buckets(latency_histogram const& h);

} // namespace cvp
