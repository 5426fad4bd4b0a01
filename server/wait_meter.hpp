#pragma once

/// How much of a worker thread's life went to waiting for something to do, which is what
/// Node's eventLoopUtilization and Tokio's per-worker busy time report: a loop thread
/// waits in epoll_wait (or, in `pool` and offload's pool, on Asio's condition variable
/// while another thread holds the reactor), a connection thread in poll() for its client's
/// next request. Everything else is busy, CPU or not: a handler that blocks in sleep() is
/// busy, as the loop it holds up sees it. The thread writes; /stats reads from others.

#include <atomic>
#include <cstdint>

namespace cvp {

class wait_meter
{
public:
    /// A thread starts (enter) or stops (leave) serving as this worker, at `now_ns`. In
    /// `threads`, successive connection threads take the same worker one after another.
    void enter(std::int64_t now_ns) noexcept;
    void leave(std::int64_t now_ns) noexcept;

    /// The thread begins or ends a wait for events.
    void begin_wait(std::int64_t now_ns) noexcept;
    void end_wait(std::int64_t now_ns) noexcept;

    /// Time the worker's threads have existed, and the part of it spent waiting, up to
    /// `now_ns`, a wait or a life in progress included.
    struct reading
    {
        std::int64_t lived_ns = 0;
        std::int64_t waited_ns = 0;
        /// lived − waited: never below 0 nor above lived, even when read mid-update.
        std::int64_t busy_ns() const noexcept;
    };
    reading read(std::int64_t now_ns) const noexcept;

private:
    // Stamps are CLOCK_MONOTONIC, 0 for none (the clock never reads 0 once the system runs).
    // Each written only by the thread serving as the worker; the reader may see the pair of
    // a finished wait half updated, which read() bounds rather than locks.
    std::atomic<std::int64_t> alive_since_ns_{0};
    std::atomic<std::int64_t> lived_ns_{0};
    std::atomic<std::int64_t> wait_since_ns_{0};
    std::atomic<std::int64_t> waited_ns_{0};
};

/// The calling thread's meter, or null on threads that are no worker.
wait_meter* current_wait_meter() noexcept;
void set_current_wait_meter(wait_meter* meter) noexcept;

/// Marks the calling thread as waiting for events while it lives; nothing without a meter.
class event_wait_scope
{
public:
    event_wait_scope() noexcept;
    ~event_wait_scope();
    event_wait_scope(event_wait_scope const&) = delete;
    event_wait_scope& operator=(event_wait_scope const&) = delete;

private:
    wait_meter* meter_;
};

} // namespace cvp
