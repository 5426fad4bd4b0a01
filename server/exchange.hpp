#pragma once

/// The exchange: what every connection does with one request, whatever carries its
/// bytes. It reads the request under its limits and deadlines, applies the framing rules,
/// routes it, answers 100-continue, reads and discards the body, runs the handler, and
/// appends the answer with its attribution; then it decides keep-alive (in a drain too),
/// paces a refused client and bounds the output. Written once, over a transport:
///
/// - `connection` (asynchronous, for the event-loop models): reads and writes that
///   would block wait in the loop, under deadlines kept on one timer;
/// - `blocking_connection` (for `threads`): the connection's own thread blocks in
///   poll() under the same deadlines.
///
/// A transport offers:
///
///     std::size_t read_now(std::span<char>, error_code&);       // never waits
///     asio::awaitable<std::tuple<error_code, std::size_t>>
///         read_when_ready(std::span<char>);                     // waits under the read deadline
///     std::size_t available();                                  // bytes the socket holds
///     void set_read_deadline(clock::time_point);
///     void clear_read_deadline();
///     clock::time_point read_deadline() const;
///     std::string& output();                                    // where answers are appended
///     void flush();                                             // sends what is queued
///     std::size_t pending() const;                              // queued or in flight
///     asio::awaitable<void> drained();                          // nothing pending, or failed
///     asio::awaitable<void> pause(std::chrono::milliseconds);
///     bool failed() const;                                      // nothing more can be sent
///     bool expired() const;                                     // a deadline passed
///     void shutdown_send();
///     void close();
///
/// The coroutines below are instantiated for both in exchange.cpp.

#include "handlers/context.hpp"
#include "server/asio.hpp"
#include "server/input_buffer.hpp"
#include "server/loop_env.hpp"
#include "server/stats.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

namespace cvp {

/// Bytes of output a connection may queue before it stops reading until they are sent.
inline constexpr std::size_t max_queued_output = 64 * 1024;
/// Room a read buffer has beyond the header limit: the most one read adds to it.
inline constexpr std::size_t read_slack = 4 * 1024;
/// After its last answer, how long a closing connection reads and discards what the
/// client still sends, so that the close does not reset the answer away.
inline constexpr std::chrono::milliseconds linger_time{1000};

/// Completion handler for co_spawn: logs an exception, which is a bug, never a client's doing.
void on_coroutine_end(std::exception_ptr e);

/// True for errors that only mean the peer went away or a deadline closed the socket.
bool is_quiet(error_code const& ec);
/// Logs a connection's error once.
void log_error(char const* what, error_code const& ec);

/// How a read ended.
enum class read_result
{
    got_bytes,
    peer_closed, ///< end of stream: the client sends nothing more
    failed,      ///< reset, timeout or error: the connection is done
    full,        ///< the buffer is at its cap
};

/// What serve_request leaves the connection to do.
enum class next_step
{
    keep_alive, ///< wait for the next request
    close,      ///< the answer said "close": flush, then close gracefully
    abort,      ///< the peer is gone or a deadline passed: close now
};

/// Counts a connection open in its worker's counters for as long as it lives, and lets
/// the drain gate know when it ends. The connection must have been admitted by the gate.
class counted_connection
{
public:
    explicit counted_connection(drain_gate& gate);
    ~counted_connection();
    counted_connection(counted_connection const&) = delete;
    counted_connection& operator=(counted_connection const&) = delete;

    /// An id no other connection of the process has: the opening worker's id times 2^32
    /// plus that worker's count of connections before this one (/stats/timeline's
    /// `connection`).
    std::uint64_t id() const noexcept { return id_; }

private:
    drain_gate& gate_;
    std::uint64_t id_;
};

/// Appends `r` with "Connection: close" to `out`; the connection then closes.
void answer_and_close(std::string& out, reply const& r, loop_env const& env);

/// Reads what the socket has into `in`. Only when it has nothing are answers flushed and
/// the read awaited, so a pipelined burst is answered in one write.
template <class Transport>
asio::awaitable<read_result> read_more(Transport& conn, input_buffer& in);

/// Reads one request from `in` and the transport, runs its handler and queues the
/// answer. `first`: the connection's first request, whose header deadline ran from accept.
/// `connection_id`: the connection's counted_connection::id, for --timeline.
template <class Transport>
asio::awaitable<next_step> serve_request(Transport& conn, loop_env& env, input_buffer& in, bool first, std::uint64_t connection_id);

/// Sends what is queued, then closes gracefully: our side first, then, for a while, the
/// client's, reading and discarding what it still sends so the close does not reset the
/// last answer away (RFC 9112 §9.6).
template <class Transport>
asio::awaitable<void> close_gracefully(Transport& conn, input_buffer& in, bool peer_closed);

} // namespace cvp
