#pragma once

/// Counts the open connections, admits new ones under the connection cap (--max-connections,
/// or less where the open-file limit allows less), and signals once
/// when a drain has begun and the last connection has closed: the drain waits on this,
/// not on a poll (as Seastar's gate lets http_server::stop() wait for its connections).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace cvp {

class drain_gate
{
public:
    using clock = std::chrono::steady_clock;

    /// Sets the connection cap; done once, before any connection is accepted.
    void set_cap(std::size_t cap) noexcept { cap_.store(cap, std::memory_order_relaxed); }
    /// The connection cap in force.
    std::size_t cap() const noexcept { return cap_.load(std::memory_order_relaxed); }
    /// Admits one more connection unless the cap is open.
    bool enter() noexcept;
    /// A connection closed; the last one to close once when_empty() is set runs it.
    void leave();
    /// A connection was refused because the cap was reached.
    void count_rejected() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

    /// A drain began: connections still waiting for a request at `grace_deadline` close.
    void begin_drain(clock::time_point grace_deadline) noexcept;
    /// Runs `on_empty` once, as soon as no connection is open (at once if none is).
    void when_empty(std::function<void()> on_empty);

    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
    std::size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }
    /// Until when a waiting connection may still deliver a request; max() before a drain.
    clock::time_point grace_deadline() const noexcept;

private:
    void fire();

    std::atomic<std::size_t> cap_{SIZE_MAX};
    std::atomic<std::size_t> open_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<bool> closed_{false};
    std::atomic<bool> armed_{false};
    std::atomic<bool> fired_{false};
    std::atomic<std::int64_t> grace_deadline_ns_{INT64_MAX};
    std::function<void()> on_empty_;
};

} // namespace cvp
