#pragma once

/// The transport of one connection in `threads`: a plain socket descriptor, and the
/// connection's own thread blocking in poll() under the same deadlines as the
/// asynchronous `connection` (server/exchange.hpp lists what a transport offers). It
/// holds that one descriptor and nothing else: its waits also poll the model's two
/// drain_signals, which every connection shares.
///
/// Its awaitables never suspend: they block, then complete. The exchange's coroutines
/// run over it on an io_context that is only ever run by the connection's thread and
/// never gets a reactor (no socket or timer is made on it), so it holds no descriptor.

#include "server/asio.hpp"
#include "server/drain_gate.hpp"
#include "server/drain_signals.hpp"

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <tuple>

namespace cvp {

class blocking_connection
{
public:
    using clock = std::chrono::steady_clock;

    /// Takes an accepted socket descriptor (closed with the connection) and sets
    /// TCP_NODELAY. In a drain (`gate` closed, or `signals` raised) a wait for a request's
    /// first byte ends by the grace deadline; `signals`' close ends every wait.
    blocking_connection(int fd, drain_signals const& signals, drain_gate const& gate, std::chrono::milliseconds write_timeout);
    ~blocking_connection();
    blocking_connection(blocking_connection const&) = delete;
    blocking_connection& operator=(blocking_connection const&) = delete;

    /// The socket, or -1 once closed.
    int native_handle() const noexcept { return fd_; }

    // -- Reading.

    /// Reads what the socket holds now, without waiting: would_block when it holds nothing.
    std::size_t read_now(std::span<char> space, error_code& ec);
    /// Waits in poll() until bytes arrive and reads them. operation_aborted when the read
    /// deadline (or in a drain, for an idle connection, the grace deadline) passes or the
    /// close signal comes; the connection is then expired or closed.
    asio::awaitable<std::tuple<error_code, std::size_t>> read_when_ready(std::span<char> space);
    /// Bytes the socket holds, unread.
    std::size_t available() const noexcept;

    // -- Deadlines, as in `connection`, but checked by the waits themselves.

    void set_read_deadline(clock::time_point t) noexcept { read_deadline_ = t; }
    void clear_read_deadline() noexcept { read_deadline_ = clock::time_point::max(); }
    clock::time_point read_deadline() const noexcept { return read_deadline_; }
    /// Marks the connection as waiting for the first byte of a request: in a drain, that
    /// wait ends by the grace deadline.
    void set_idle(bool idle) noexcept { idle_ = idle; }
    /// True once a deadline passed: the connection closes without further ado.
    bool expired() const noexcept { return expired_; }

    // -- Output.

    /// Where responses are appended.
    std::string& output() noexcept { return out_; }
    /// Sends everything queued, blocking in poll() for room under the write timeout; on
    /// failure or timeout the connection has failed and the output is dropped.
    void flush();
    /// Bytes queued: flush() leaves none.
    std::size_t pending() const noexcept { return out_.size(); }
    /// Nothing is ever in flight after flush(): completes at once.
    asio::awaitable<void> drained();
    /// Sleeps `duration`, or until the close signal.
    asio::awaitable<void> pause(std::chrono::milliseconds duration);
    /// True once a write failed or timed out: nothing more can be sent.
    bool failed() const noexcept { return failed_; }

    /// Ends our side of the stream.
    void shutdown_send() noexcept;
    /// Closes the socket.
    void close() noexcept;

private:
    /// How a wait in poll() ended.
    enum class wait_result
    {
        ready,
        timed_out,
        closing,
    };
    /// Waits until the socket is readable (POLLIN) or writable (POLLOUT) or `due` passes;
    /// `idle` waits also end by the drain's grace deadline once a drain is seen.
    wait_result wait_for(short events, clock::time_point due, bool idle);
    /// Drops the output and marks the connection failed.
    void fail() noexcept;

    int fd_;
    drain_signals const& signals_;
    drain_gate const& gate_;
    std::chrono::milliseconds write_timeout_;
    clock::time_point read_deadline_ = clock::time_point::max();
    std::string out_;
    bool idle_ = false;
    bool drain_seen_ = false;
    bool expired_ = false;
    bool failed_ = false;
};

} // namespace cvp
