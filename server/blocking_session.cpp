#include "server/blocking_session.hpp"

#include "server/blocking_connection.hpp"
#include "server/exchange.hpp"
#include "server/input_buffer.hpp"

namespace cvp {

namespace {

using clock = blocking_connection::clock;

/// Serves requests while the connection lasts: waits for each in poll(), with nothing
/// but the thread's stack to hold meanwhile.
asio::awaitable<void> serve(int fd, loop_env& env, drain_signals const& signals)
{
    counted_connection counted{env.gate};
    blocking_connection conn{fd, signals, env.gate, env.cfg.write_timeout};
    input_buffer in{env.cfg.max_header_bytes + read_slack};

    // The first request's whole header is due header-timeout after accept.
    conn.set_read_deadline(clock::now() + env.cfg.header_timeout);
    bool first = true;
    bool peer_closed = false;
    for (;;) {
        if (in.empty()) {
            // Waiting for a request: in a drain, until the grace deadline at the latest.
            conn.set_idle(true);
            auto const r = co_await read_more(conn, in);
            conn.set_idle(false);
            // Nothing came: the peer left, or its wait ended.
            if (r != read_result::got_bytes) {
                conn.close();
                co_return;
            }
        }

        auto const step = co_await serve_request(conn, env, in, first, counted.id());
        if (step == next_step::abort) {
            peer_closed = true;
            break;
        }
        if (step == next_step::close)
            break;
        first = false;
        if (in.empty())
            conn.set_read_deadline(clock::now() + env.cfg.idle_timeout);
    }
    co_await close_gracefully(conn, in, peer_closed);
}

} // namespace

void serve_on_this_thread(int fd, loop_env& env, drain_signals const& signals)
{
    // The coroutines run on a loop of the thread's own that never gets a reactor: nothing
    // on it ever waits in it, so it holds no descriptor, and run() returns when they end.
    asio::io_context ctx{1};
    asio::co_spawn(ctx, serve(fd, env, signals), on_coroutine_end);
    ctx.run();
}

} // namespace cvp
