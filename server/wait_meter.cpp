#include "server/wait_meter.hpp"

#include "common/clock.hpp"

#include <algorithm>

namespace cvp {

namespace {

thread_local wait_meter* this_meter = nullptr;

/// Ends the span that `since` stamps at `now_ns`: adds it to `total`, then clears the
/// stamp. A read between the two counts the span twice or not at all, once; read()
/// keeps even that within bounds.
void close_span(std::atomic<std::int64_t>& since, std::atomic<std::int64_t>& total, std::int64_t now_ns) noexcept
{
    auto const began = since.load(std::memory_order_relaxed);
    if (began == 0)
        return;
    total.fetch_add(now_ns - began, std::memory_order_relaxed);
    since.store(0, std::memory_order_relaxed);
}

} // namespace

void wait_meter::enter(std::int64_t now_ns) noexcept
{
    alive_since_ns_.store(now_ns, std::memory_order_relaxed);
}

void wait_meter::leave(std::int64_t now_ns) noexcept
{
    close_span(alive_since_ns_, lived_ns_, now_ns);
}

void wait_meter::begin_wait(std::int64_t now_ns) noexcept
{
    wait_since_ns_.store(now_ns, std::memory_order_relaxed);
}

void wait_meter::end_wait(std::int64_t now_ns) noexcept
{
    close_span(wait_since_ns_, waited_ns_, now_ns);
}

wait_meter::reading wait_meter::read(std::int64_t now_ns) const noexcept
{
    reading r;
    // What has finished, then what is under way now.
    r.lived_ns = lived_ns_.load(std::memory_order_relaxed);
    if (auto const since = alive_since_ns_.load(std::memory_order_relaxed); since != 0)
        r.lived_ns += std::max<std::int64_t>(now_ns - since, 0);
    r.waited_ns = waited_ns_.load(std::memory_order_relaxed);
    if (auto const since = wait_since_ns_.load(std::memory_order_relaxed); since != 0)
        r.waited_ns += std::max<std::int64_t>(now_ns - since, 0);
    r.waited_ns = std::min(r.waited_ns, r.lived_ns);
    return r;
}

std::int64_t wait_meter::reading::busy_ns() const noexcept
{
    return std::clamp<std::int64_t>(lived_ns - waited_ns, 0, lived_ns);
}

wait_meter* current_wait_meter() noexcept
{
    return this_meter;
}

void set_current_wait_meter(wait_meter* meter) noexcept
{
    this_meter = meter;
}

event_wait_scope::event_wait_scope() noexcept
    : meter_(this_meter)
{
    if (meter_)
        meter_->begin_wait(monotonic_ns());
}

event_wait_scope::~event_wait_scope()
{
    if (meter_)
        meter_->end_wait(monotonic_ns());
}

} // namespace cvp
