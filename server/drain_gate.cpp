#include "server/drain_gate.hpp"

namespace cvp {

bool drain_gate::enter() noexcept
{
    if (open_.fetch_add(1, std::memory_order_relaxed) >= cap()) {
        open_.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void drain_gate::leave()
{
    // Sequentially consistent with when_empty(): of the last leave() and the arming, at
    // least one sees the other (with acquire/release both could miss, and the drain
    // would wait for its timeout).
    if (open_.fetch_sub(1, std::memory_order_seq_cst) == 1 && armed_.load(std::memory_order_seq_cst))
        fire();
}

void drain_gate::begin_drain(clock::time_point grace_deadline) noexcept
{
    grace_deadline_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(grace_deadline.time_since_epoch()).count(),
                             std::memory_order_relaxed);
    closed_.store(true, std::memory_order_release);
}

void drain_gate::when_empty(std::function<void()> on_empty)
{
    // The callback is in place before any leave() can see the gate armed.
    on_empty_ = std::move(on_empty);
    armed_.store(true, std::memory_order_seq_cst);
    if (open_.load(std::memory_order_seq_cst) == 0)
        fire();
}

drain_gate::clock::time_point drain_gate::grace_deadline() const noexcept
{
    auto const ns = grace_deadline_ns_.load(std::memory_order_relaxed);
    if (ns == INT64_MAX)
        return clock::time_point::max();
    return clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds{ns})};
}

void drain_gate::fire()
{
    // Both the last leave() and when_empty() may get here; only one runs the callback.
    if (!fired_.exchange(true, std::memory_order_acq_rel))
        on_empty_();
}

} // namespace cvp
