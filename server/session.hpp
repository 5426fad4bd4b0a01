#pragma once

/// One coroutine per connection, the same in every model. The model only decides which
/// loop the socket belongs to and which work_runner the handlers get.

#include "handlers/context.hpp"
#include "handlers/router.hpp"
#include "server/asio.hpp"
#include "server/config.hpp"
#include "server/stats.hpp"

#include <atomic>
#include <cstddef>
#include <list>

namespace cvp {

/// The sessions of one event loop, so that a drain can close the idle ones. Only that
/// loop's thread touches it.
class session_registry
{
public:
    struct entry
    {
        beast::tcp_stream* stream;
        /// Waiting for the first byte of the next request.
        bool idle;
    };
    using handle = std::list<entry>::iterator;

    handle add(beast::tcp_stream& stream) { return entries_.insert(entries_.end(), entry{&stream, false}); }
    void remove(handle h) { entries_.erase(h); }

    /// Cancels the reads of idle sessions; each then ends quietly.
    void close_idle();
    /// Cancels everything: the drain deadline has passed.
    void close_all();

private:
    std::list<entry> entries_;
};

/// What every session on one event loop shares.
struct loop_env
{
    config const& cfg;
    router const& routes;
    server_view const& server;
    work_runner& runner;
    worker_counters& counters;
    session_registry& sessions;
    /// Connections open in the whole process, against --max-connections.
    std::atomic<std::size_t>& open_connections;
    std::string_view mode;
    int worker = 0;
};

/// Serves requests on `stream` until the peer closes, a timeout fires, the input is
/// malformed, or the server drains. Never throws for network or protocol errors.
asio::awaitable<void> run_session(beast::tcp_stream stream, loop_env& env);

/// Answers 503 "too many connections" and closes: the connection limit was reached.
asio::awaitable<void> refuse_connection(beast::tcp_stream stream, loop_env& env);

} // namespace cvp
