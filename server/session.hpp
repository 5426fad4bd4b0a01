#pragma once

/// One coroutine per connection, the same in every model. The model only decides which
/// loop the socket belongs to, whether its steps need a strand, and which work_runner the
/// handlers get.

#include "handlers/context.hpp"
#include "handlers/router.hpp"
#include "server/asio.hpp"
#include "server/config.hpp"
#include "server/connection.hpp"
#include "server/drain_gate.hpp"
#include "server/stats.hpp"

#include <cstddef>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <optional>

namespace cvp {

/// The connections of one event loop (or of every thread of a model whose connections
/// have no fixed loop), so that a drain can reach them. Any thread may call it: it hands
/// each connection its part on the connection's own executor.
class session_registry
{
public:
    using handle = std::list<connection*>::iterator;

    handle add(connection& c);
    void remove(handle h);

    /// A drain began: connections waiting for a request get until `grace_deadline` to
    /// deliver one; connections busy with a request finish it.
    void begin_drain(connection::clock::time_point grace_deadline);
    /// Closes everything: the drain deadline has passed.
    void close_all();

private:
    /// Runs `step` on each live connection's executor.
    template <class Step>
    void for_each(Step step);

    std::mutex mutex_;
    std::list<connection*> entries_;
};

/// What every session on one event loop shares. Read-only once made, so the threads of
/// one loop may share it.
struct loop_env
{
    config const& cfg;
    router const& routes;
    server_view const& server;
    work_runner& runner;
    session_registry& sessions;
    /// Open connections in the whole process, and the drain.
    drain_gate& gate;
    std::string_view mode;
};

/// Bytes of output a session may queue before it stops reading until they are sent.
inline constexpr std::size_t max_queued_output = 64 * 1024;
/// Room a read buffer has beyond the header limit: the most one read adds to it.
inline constexpr std::size_t read_slack = 4 * 1024;
/// After its last answer, how long a closing connection reads and discards what the
/// client still sends, so that the close does not reset the answer away.
inline constexpr std::chrono::milliseconds linger_time{1000};

/// Completion handler for co_spawn: logs an exception, which is a bug, never a client's doing.
void on_coroutine_end(std::exception_ptr e);

/// Serves requests on an accepted socket, on its executor (or on `strand`, over it), until
/// the peer closes, a timeout fires, the input is malformed, or the server drains. The
/// connection must have been admitted by `env.gate`; the session leaves it when it ends.
void start_session(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand = std::nullopt);

/// Admits an accepted socket under --max-connections and serves it, or refuses it.
void admit_session(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand = std::nullopt);

/// Answers 503 "too many connections" and closes: the connection limit was reached.
void refuse_connection(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand = std::nullopt);

} // namespace cvp
