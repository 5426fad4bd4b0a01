#include "server/loop_health.hpp"

#include <algorithm>
#include <cmath>

namespace cvp {

loop_health::loop_health(std::string name, std::vector<int> workers)
    : name_(std::move(name))
    , workers_(std::move(workers))
{}

void loop_health::record_lag(std::int64_t lag_ns, std::int64_t now_ns)
{
    auto const us = static_cast<std::uint64_t>(std::max<std::int64_t>(lag_ns, 0) / 1000);
    {
        std::lock_guard lock{mutex_};
        total_.record(us);
        ring_[ring_next_] = static_cast<std::uint32_t>(std::min<std::uint64_t>(us, UINT32_MAX));
        ring_next_ = (ring_next_ + 1) % ring_.size();
        ring_filled_ = std::min(ring_filled_ + 1, ring_.size());
    }
    last_tick_ns_.store(now_ns, std::memory_order_release);
}

lag_snapshot loop_health::since_start() const
{
    std::lock_guard lock{mutex_};
    auto const s = total_.summary();
    return {s.count, s.min, s.p50, s.p99, s.max, s.mean};
}

lag_snapshot loop_health::recent() const
{
    // A sorted copy of the ring: exact percentiles of the last few seconds' ticks.
    std::vector<std::uint32_t> v;
    {
        std::lock_guard lock{mutex_};
        v.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(ring_filled_));
    }
    lag_snapshot f;
    if (v.empty())
        return f;
    std::sort(v.begin(), v.end());
    // The smallest sample with at least p% of the samples at or below it.
    auto const at = [&](double p) { return v[static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1]; };
    double sum = 0;
    for (auto x : v)
        sum += x;
    return {v.size(), v.front(), at(50), at(99), v.back(), sum / static_cast<double>(v.size())};
}

latency_histogram loop_health::histogram() const
{
    std::lock_guard lock{mutex_};
    return total_;
}

void loop_health::record_stall(stall_record stall)
{
    stalls_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock{mutex_};
    last_stall_ = std::move(stall);
}

stall_record loop_health::last_stall() const
{
    std::lock_guard lock{mutex_};
    return last_stall_;
}

} // namespace cvp
