#pragma once

/// The transport of one accepted connection: its socket, its deadlines, and its output,
/// which leaves in as few writes as possible with at most one write in flight.
///
/// The session coroutine drives it; the completion handlers of its timer and of a write
/// in flight hold a shared_ptr to it, so none of them can outlive it.
///
/// Its steps run on its loop's thread, or, in `pool`, where several threads run one loop,
/// on a strand of its own: every handler it starts is bound to that strand, so no two of
/// its steps ever overlap.

#include "server/asio.hpp"
#include "server/stats.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace cvp {

class connection : public std::enable_shared_from_this<connection>
{
public:
    /// Concrete types: a connection lives on one io_context, and any_io_executor's
    /// type-erased copies showed in the profile.
    using executor_type = asio::io_context::executor_type;
    using socket_type = asio::basic_stream_socket<tcp, executor_type>;
    using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, executor_type>;
    using strand_type = asio::strand<executor_type>;
    using clock = std::chrono::steady_clock;

    /// Takes an accepted socket: sets TCP_NODELAY and non-blocking mode. With a strand,
    /// every step of the connection runs on it.
    connection(socket_type socket, std::optional<strand_type> strand, std::chrono::milliseconds write_timeout);
    virtual ~connection() = default;
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    socket_type& socket() noexcept { return socket_; }

    // -- Reading, as the exchange does it (server/exchange.hpp).

    /// Reads what the socket holds now, without waiting: would_block when it holds nothing.
    std::size_t read_now(std::span<char> space, error_code& ec) { return socket_.read_some(asio::buffer(space.data(), space.size()), ec); }
    /// Waits for bytes in the loop and reads them; the read deadline cancels the wait.
    auto read_when_ready(std::span<char> space) { return socket_.async_read_some(asio::buffer(space.data(), space.size()), use_tuple); }
    /// Bytes the socket holds, unread.
    std::size_t available()
    {
        error_code ignored;
        return socket_.available(ignored);
    }
    /// Ends our side of the stream: the peer reads end of stream after what was sent.
    void shutdown_send()
    {
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
    }

    /// Where the connection's steps run: its strand, or its loop.
    asio::any_io_executor executor() const;

    /// Starts an operation whose handler must run where the connection's steps run:
    /// `op(handler)` gets the handler bound to the strand when there is one.
    template <class Op, class Handler>
    void start(Op&& op, Handler&& handler)
    {
        if (strand_)
            std::forward<Op>(op)(asio::bind_executor(*strand_, std::forward<Handler>(handler)));
        else
            std::forward<Op>(op)(std::forward<Handler>(handler));
    }

    // -- Deadlines. One timer serves both: it is re-armed only when a deadline moves
    //    earlier than the time it is already set for, so a keep-alive request that
    //    arrives whole costs no timer operation at all.

    /// The request being read, or the next one awaited, must be in by `t`.
    void set_read_deadline(clock::time_point t);
    /// No read deadline while the server works on a request.
    void clear_read_deadline() { read_deadline_ = clock::time_point::max(); }
    clock::time_point read_deadline() const noexcept { return read_deadline_; }
    /// Marks the connection as waiting for the first byte of a request: a read deadline
    /// that passes then spares it if that byte has already arrived.
    void set_idle(bool idle) noexcept { idle_ = idle; }
    bool idle() const noexcept { return idle_; }
    /// True once a deadline passed and the socket was closed for it (or, for an idle
    /// connection, its read cancelled).
    bool expired() const noexcept { return expired_; }
    /// An idle connection whose read was cancelled by its deadline got bytes after all:
    /// they came in time, so it lives on.
    void reprieve() noexcept { expired_ = false; }

    // -- Output.

    /// Where responses are appended; storage is taken when needed and given back when sent.
    std::string& output();
    /// Sends what is queued: at once when the socket takes it, else with one write in
    /// flight, behind which later output queues and then leaves in one write.
    void flush();
    /// Bytes queued or in flight.
    std::size_t pending() const noexcept;
    /// Completes once nothing is queued or in flight, or the connection has failed.
    asio::awaitable<void> drained();
    /// Waits `duration`, or until the connection closes.
    asio::awaitable<void> pause(std::chrono::milliseconds duration);
    /// True once a write failed or timed out: nothing more can be sent.
    bool failed() const noexcept { return failed_; }

    /// Cancels the timer and any operation, and closes the socket.
    void close();

private:
    void arm();
    void on_timer(error_code ec, std::uint64_t generation);
    void on_written(error_code ec);
    void fail();
    void wake_waiters();
    void give_back(std::unique_ptr<std::string>& storage);

    /// Keeps the connection's io_context running while anything holds the connection: in
    /// `threads` that io_context ends with it, and a drain's step posted to it from
    /// another thread must still find it. Declared first, so it goes after the socket.
    asio::executor_work_guard<executor_type> keep_loop_;
    socket_type socket_;
    /// Only in `pool`; a pointer, so that other models' connections do not carry its room.
    std::unique_ptr<strand_type> strand_;
    timer_type timer_;
    /// Wakes a coroutine waiting in drained() or pause(); made on first use.
    std::unique_ptr<timer_type> waiter_;
    timer_type& waiter();
    std::chrono::milliseconds write_timeout_;

    clock::time_point read_deadline_ = clock::time_point::max();
    clock::time_point write_deadline_ = clock::time_point::max();
    clock::time_point armed_for_ = clock::time_point::max();
    std::uint64_t generation_ = 0;

    /// Queued output, and the output of the write in flight from `in_flight_offset_`.
    std::unique_ptr<std::string> queued_;
    std::unique_ptr<std::string> in_flight_;
    std::size_t in_flight_offset_ = 0;

    bool armed_ = false;
    bool writing_ = false;
    bool idle_ = false;
    bool expired_ = false;
    bool failed_ = false;
};

} // namespace cvp
