#include "server/loop_health.hpp"

#include "server/delay_figures.hpp"

#include <algorithm>
#include <cmath>

namespace cvp {

namespace {

/// Busy over lived, or 0 before any time passed.
double busy_share(std::int64_t lived_ns, std::int64_t waited_ns)
{
    if (lived_ns <= 0)
        return 0;
    return std::clamp(static_cast<double>(lived_ns - waited_ns) / static_cast<double>(lived_ns), 0.0, 1.0);
}

} // namespace

loop_health::loop_health(std::string name, std::vector<int> workers, std::vector<wait_meter const*> meters)
    : name_(std::move(name))
    , workers_(std::move(workers))
    , meters_(std::move(meters))
{}

void loop_health::record_lag(std::int64_t lag_ns, std::int64_t now_ns)
{
    auto const us = static_cast<std::uint64_t>(std::max<std::int64_t>(lag_ns, 0) / 1000);
    auto const time = threads_time(now_ns);
    {
        std::lock_guard lock{mutex_};
        total_.record(us);
        ring_[ring_next_] = {static_cast<std::uint32_t>(std::min<std::uint64_t>(us, UINT32_MAX)), time.lived_ns, time.waited_ns};
        ring_next_ = (ring_next_ + 1) % ring_.size();
        ring_filled_ = std::min(ring_filled_ + 1, ring_.size());
    }
    last_tick_ns_.store(now_ns, std::memory_order_release);
}

lag_snapshot loop_health::since_start() const
{
    std::lock_guard lock{mutex_};
    return delay_summary(total_);
}

lag_snapshot loop_health::recent() const
{
    // A sorted copy of the ring's lags: exact percentiles of the last few seconds' ticks.
    std::vector<std::uint32_t> v;
    {
        std::lock_guard lock{mutex_};
        v.reserve(ring_filled_);
        for (std::size_t i = 0; i < ring_filled_; ++i)
            v.push_back(ring_[i].lag_us);
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

wait_meter::reading loop_health::threads_time(std::int64_t now_ns) const
{
    wait_meter::reading sum;
    for (auto const* m : meters_) {
        auto const r = m->read(now_ns);
        sum.lived_ns += r.lived_ns;
        sum.waited_ns += r.waited_ns;
    }
    return sum;
}

double loop_health::utilization_since_start(std::int64_t now_ns) const
{
    auto const t = threads_time(now_ns);
    return busy_share(t.lived_ns, t.waited_ns);
}

double loop_health::utilization_recent(std::int64_t now_ns) const
{
    // From the oldest tick the ring keeps (the next to be overwritten once it is full) to now.
    tick_sample oldest;
    {
        std::lock_guard lock{mutex_};
        if (ring_filled_ == 0)
            return utilization_since_start(now_ns);
        oldest = ring_filled_ < ring_.size() ? ring_[0] : ring_[ring_next_];
    }
    auto const t = threads_time(now_ns);
    return busy_share(t.lived_ns - oldest.lived_ns, t.waited_ns - oldest.waited_ns);
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
