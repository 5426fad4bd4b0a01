#pragma once

/// How `threads` reaches connection threads that are blocked in poll(): two process-wide
/// eventfds, "the drain began" and "close now", each written once and never read, so that
/// once written each stays readable. Every connection thread polls them beside its
/// socket: no descriptor per connection, and no wake-up lost, whether the signal comes
/// before the poll or during it.

#include <atomic>
#include <chrono>

namespace cvp {

class drain_signals
{
public:
    /// Opens the two eventfds; throws std::system_error when it cannot.
    drain_signals();
    ~drain_signals();
    drain_signals(drain_signals const&) = delete;
    drain_signals& operator=(drain_signals const&) = delete;

    /// Readable once drain() was called.
    int drain_fd() const noexcept { return drain_fd_; }
    /// Readable once close() was called.
    int close_fd() const noexcept { return close_fd_; }
    /// True once close() was called: checked where a thread does not poll.
    bool closing() const noexcept { return closing_.load(std::memory_order_acquire); }

    /// Blocks the calling thread for `duration`, or until close(): what a connection
    /// thread does where an event loop would wait on a timer.
    void sleep(std::chrono::milliseconds duration) const;

    /// A drain began: wakes every thread waiting for a request. Safe from any thread.
    void drain() noexcept;
    /// Every connection closes now: wakes every waiting thread. Safe from any thread.
    void close() noexcept;

private:
    int drain_fd_ = -1;
    int close_fd_ = -1;
    std::atomic<bool> closing_{false};
};

/// poll()'s timeout for a wait until `due`: rounded up, so that the wait never ends
/// early; -1 (none) for no deadline.
int poll_timeout_ms(std::chrono::steady_clock::time_point due);

} // namespace cvp
