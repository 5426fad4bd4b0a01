#include "handlers/timeline_ring.hpp"

#include <algorithm>
#include <iterator>

namespace cvp {

std::string_view to_string(timeline_kind k) noexcept
{
    // Indexed by the enumerator's value, in its order.
    constexpr std::string_view names[] = {"cpu", "blocking", "io-wait"};
    auto const i = static_cast<std::size_t>(k);
    return i < std::size(names) ? names[i] : "unknown";
}

void timeline_event::set_target(std::string_view target) noexcept
{
    // Cut to what fits, and keep only printable ASCII.
    auto const n = std::min(target.size(), target_capacity);
    for (std::size_t i = 0; i < n; ++i) {
        auto const c = static_cast<unsigned char>(target[i]);
        target_bytes[i] = c >= 0x20 && c < 0x7f ? target[i] : '?';
    }
    target_size = static_cast<std::uint8_t>(n);
}

timeline_ring::timeline_ring(std::size_t capacity)
    : capacity_(capacity)
{}

void timeline_ring::push(timeline_event const& e)
{
    std::lock_guard lock{mutex_};
    ++recorded_;
    // Room left: keep it. Full: it takes the oldest one's place.
    if (events_.size() < capacity_) {
        events_.push_back(e);
        return;
    }
    if (capacity_ == 0)
        return;
    events_[oldest_] = e;
    oldest_ = (oldest_ + 1) % capacity_;
}

timeline_ring::contents timeline_ring::since(std::int64_t since_ns) const
{
    contents out;
    std::lock_guard lock{mutex_};
    out.recorded = recorded_;
    out.overwritten = recorded_ - events_.size();
    // From the oldest kept to the newest, only those that ended at or after since_ns.
    for (std::size_t i = 0; i < events_.size(); ++i) {
        auto const& e = events_[(oldest_ + i) % events_.size()];
        if (e.end_ns >= since_ns)
            out.events.push_back(e);
    }
    return out;
}

} // namespace cvp
