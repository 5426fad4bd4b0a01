#include "server/exchange.hpp"

#include "common/clock.hpp"
#include "server/blocking_connection.hpp"
#include "server/chunked_decoder.hpp"
#include "server/connection.hpp"
#include "server/framing.hpp"
#include "server/request_slot.hpp"
#include "server/response_text.hpp"

#include <iostream>
#include <optional>

namespace cvp {

using clock = std::chrono::steady_clock;

void on_coroutine_end(std::exception_ptr e)
{
    if (!e)
        return;
    try {
        std::rethrow_exception(e);
    } catch (std::exception const& x) {
        std::cerr << "cvp-server: coroutine failed: " << x.what() << '\n';
    }
}

bool is_quiet(error_code const& ec)
{
    return ec == asio::error::operation_aborted || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::not_connected || ec == asio::error::bad_descriptor;
}

void log_error(char const* what, error_code const& ec)
{
    std::cerr << "cvp-server: " << what << ": " << ec.message() << '\n';
}

counted_connection::counted_connection(drain_gate& gate)
    : gate_(gate)
{
    auto& counters = current_counters();
    worker_counters::bump(counters.connections_open);
    // The worker's count before this connection, taken by the increment it makes anyway.
    auto const opened_before = counters.connections_total.fetch_add(1, std::memory_order_relaxed);
    id_ = (static_cast<std::uint64_t>(current_worker()) << 32) + opened_before;
}

counted_connection::~counted_connection()
{
    worker_counters::drop(current_counters().connections_open);
    gate_.leave();
}

void answer_and_close(std::string& out, reply const& r, loop_env const& env)
{
    append_response(out, r, response_meta{env.mode, current_worker(), monotonic_ns(), 1, false, false});
    worker_counters::bump(current_counters().responses);
}

template <class Transport>
asio::awaitable<read_result> read_more(Transport& conn, input_buffer& in)
{
    auto space = in.prepare();
    if (space.empty())
        co_return read_result::full;

    // Whatever is there already, without waiting.
    error_code ec;
    auto n = conn.read_now(space, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
        // Nothing yet: send what is ready, then wait, unless the deadline has passed.
        conn.flush();
        if (conn.read_deadline() <= clock::now())
            co_return read_result::failed;
        auto [rec, rn] = co_await conn.read_when_ready(space);
        ec = rec;
        n = rn;
    }
    if (!ec) {
        in.commit(n);
        co_return read_result::got_bytes;
    }
    if (ec == asio::error::eof)
        co_return read_result::peer_closed;
    if (!is_quiet(ec))
        log_error("read", ec);
    co_return read_result::failed;
}

namespace {

/// The answer for a read that ended inside a request: nothing when the peer is gone, a
/// 431 or 413 when it outgrew the buffer.
std::optional<reply> reply_for(read_result r, bool in_body, loop_env const& env)
{
    if (r != read_result::full)
        return std::nullopt;
    if (in_body)
        return error_reply(http::status::payload_too_large,
                           "request body framing exceeds " + std::to_string(env.cfg.max_header_bytes + read_slack) + " buffered bytes");
    return error_reply(http::status::request_header_fields_too_large,
                       "request header exceeds " + std::to_string(env.cfg.max_header_bytes) + " bytes");
}

/// Reads and discards a request body, as framed; an error reply ends the connection.
template <class Transport>
asio::awaitable<std::optional<reply>> discard_body(Transport& conn, input_buffer& in, framing const& f, loop_env const& env, bool& aborted)
{
    std::uint64_t remaining = f.length;
    chunked_decoder chunks{env.cfg.max_body_bytes, env.cfg.max_header_bytes};
    for (;;) {
        // Consume what is buffered.
        if (f.body == framing::body_kind::length) {
            auto const n = std::min<std::uint64_t>(remaining, in.size());
            in.consume(static_cast<std::size_t>(n));
            remaining -= n;
            if (remaining == 0)
                co_return std::nullopt;
        } else {
            std::size_t used = 0;
            auto const s = chunks.feed(in.data(), used);
            in.consume(used);
            switch (s) {
            case chunked_decoder::status::done: co_return std::nullopt;
            case chunked_decoder::status::need_more: break;
            case chunked_decoder::status::malformed:
                co_return error_reply(http::status::bad_request,
                                      "malformed request: bad chunked encoding: " + std::string{chunked_decoder::describe(chunks.why())});
            case chunked_decoder::status::body_too_large:
                co_return error_reply(http::status::payload_too_large,
                                      "request body exceeds " + std::to_string(env.cfg.max_body_bytes) + " bytes");
            case chunked_decoder::status::line_too_long:
                co_return error_reply(http::status::bad_request,
                                      "chunk-size line exceeds " + std::to_string(chunked_decoder::max_line_bytes) + " bytes");
            case chunked_decoder::status::trailers_too_large:
                co_return error_reply(http::status::request_header_fields_too_large,
                                      "request trailers exceed " + std::to_string(env.cfg.max_header_bytes) + " bytes");
            }
        }

        // Then wait for more.
        auto const r = co_await read_more(conn, in);
        if (r != read_result::got_bytes) {
            aborted = r != read_result::full;
            co_return reply_for(r, true, env);
        }
    }
}

} // namespace

template <class Transport>
asio::awaitable<next_step> serve_request(Transport& conn, loop_env& env, input_buffer& in, bool first, std::uint64_t connection_id)
{
    auto const& cfg = env.cfg;
    auto slot = take_slot();
    auto& parser = slot->start(cfg.max_header_bytes);

    // A kept-alive connection's header deadline starts with the request's first byte;
    // the first request's started at accept. Only a request that is not in yet needs one.
    bool deadline_set = first;
    auto const need_deadline = [&] {
        if (!deadline_set)
            conn.set_read_deadline(clock::now() + cfg.header_timeout);
        deadline_set = true;
    };

    // The header, parsed where it lies in the buffer. Beast takes each complete line as it
    // comes, so what is left is the start of a line.
    bool skipped_empty_line = false;
    for (;;) {
        // One empty line before a request line is ignored (RFC 9112 §2.2); once the parser
        // has taken a line, an empty one is the end of the header.
        if (!skipped_empty_line && !parser.got_some() && in.data().starts_with("\r\n")) {
            in.consume(2);
            skipped_empty_line = true;
        }
        error_code ec;
        auto const n = parser.put(asio::buffer(in.data().data(), in.size()), ec);
        in.consume(n);
        if (!ec)
            break;
        if (ec != http::error::need_more) {
            answer_and_close(conn.output(), parse_error_reply(ec, cfg.max_header_bytes, cfg.max_body_bytes), env);
            co_return next_step::close;
        }
        need_deadline();
        auto const r = co_await read_more(conn, in);
        if (r == read_result::got_bytes)
            continue;
        if (auto answer = reply_for(r, false, env)) {
            answer_and_close(conn.output(), *answer, env);
            co_return next_step::close;
        }
        co_return next_step::abort;
    }
    auto const& req = parser.get();

    // The framing rules, then the route: both decide before any body is read.
    auto& f = slot->rules;
    f = check_framing(parser, cfg.max_body_bytes);
    if (f.error) {
        answer_and_close(conn.output(), *f.error, env);
        co_return next_step::close;
    }
    auto& route = slot->route;
    route = env.routes.find(req);

    // A client waiting on 100-continue hears now whether to send its body.
    if (f.expects_continue) {
        if (route.error) {
            answer_and_close(conn.output(), *route.error, env);
            co_return next_step::close;
        }
        if (in.empty()) {
            conn.output().append(continue_response);
            conn.flush();
        }
    }

    // The body, read and discarded: no endpoint takes one.
    if (f.body != framing::body_kind::none) {
        need_deadline();
        bool aborted = false;
        auto problem = co_await discard_body(conn, in, f, env, aborted);
        if (aborted)
            co_return next_step::abort;
        if (problem) {
            answer_and_close(conn.output(), *problem, env);
            co_return next_step::close;
        }
    }
    conn.clear_read_deadline();
    auto const parsed_ns = monotonic_ns();

    // In flight from here: counted before the answers already made leave, so that a
    // client who has read them sees this request counted.
    worker_counters::bump(current_counters().requests_in_flight);
    // Nothing to keep buffered while the handler works: give the buffer back.
    in.release();
    // Answers already made leave before work that may wait, so it cannot hold them back.
    if (route.speed == route_speed::may_wait)
        conn.flush();

    // Handle it; a handler that throws is a bug, answered 500 rather than lost. The worker
    // that took the request is the one X-Worker names, though in `pool` another thread
    // may resume it after a wait.
    int const taken_by = current_worker();
    auto& r = slot->answer;
    if (route.error) {
        r = std::move(*route.error);
    } else {
        // With --timeline the handler's work goes through a runner that records it; without,
        // the model's own runner, and this test is all that recording costs.
        work_runner* runner = &env.runner;
        if (cfg.timeline_events != 0)
            if (auto* timeline = env.server.timeline())
                runner = &slot->recorder.emplace(env.runner, *timeline, std::string_view{req.target().data(), req.target().size()},
                                                 connection_id);
        request_context ctx{req, env.mode, taken_by, *runner, env.server, env.downstream, env.database};
        // A handler that may wait says what it serves, for the stall watchdog to name.
        auto* serving = route.speed == route_speed::may_wait ? &current_counters().serving : nullptr;
        auto const label = serving != nullptr ? serving->set(req.method_string(), req.target()) : 0;
        try {
            r = co_await route.fn(ctx, *route.where);
        } catch (std::exception const& e) {
            std::cerr << "cvp-server: handler for " << req.target() << " failed: " << e.what() << '\n';
            r = error_reply(http::status::internal_server_error, "internal error");
        }
        if (serving != nullptr)
            serving->clear(label);
    }

    // Keep the connection unless the client or the reply says otherwise. In a drain the
    // answer says "close" once the client has nothing more on the wire.
    bool keep_alive = f.keep_alive && !r.close;
    if (keep_alive && env.gate.closed())
        keep_alive = !in.empty() || conn.available() > 0;
    append_response(conn.output(), r,
                    response_meta{env.mode, taken_by, parsed_ns, req.version() % 10, req.method() == http::verb::head, keep_alive});
    // Counted by the thread that answers: in `pool` it may not be the one that started.
    auto& counters = current_counters();
    worker_counters::drop(counters.requests_in_flight);
    worker_counters::bump(counters.requests);
    worker_counters::bump(counters.responses);
    if (!keep_alive)
        co_return next_step::close;

    // A client whose work was refused waits before its next request is read: a flood of
    // refusals would otherwise take the CPU that the admitted work needs.
    if (r.overloaded) {
        conn.flush();
        co_await conn.pause(env.cfg.overload_pause);
    }

    // Past the output bound, stop reading until the client takes what it was sent.
    if (conn.pending() > max_queued_output) {
        conn.flush();
        co_await conn.drained();
    }
    if (conn.failed() || conn.expired())
        co_return next_step::abort;
    co_return next_step::keep_alive;
}

template <class Transport>
asio::awaitable<void> close_gracefully(Transport& conn, input_buffer& in, bool peer_closed)
{
    conn.flush();
    co_await conn.drained();
    if (!conn.failed() && !conn.expired()) {
        conn.shutdown_send();
        if (!peer_closed) {
            conn.set_read_deadline(clock::now() + linger_time);
            for (;;) {
                in.consume(in.size());
                // Named first: g++ 12 miscompiles a co_await inside a comparison in a
                // coroutine template (the resumed frame trapped on SIGILL).
                auto const r = co_await read_more(conn, in);
                if (r != read_result::got_bytes)
                    break;
            }
            in.consume(in.size());
        }
    }
    conn.close();
}

// The two transports.
template asio::awaitable<read_result> read_more(connection&, input_buffer&);
template asio::awaitable<next_step> serve_request(connection&, loop_env&, input_buffer&, bool, std::uint64_t);
template asio::awaitable<void> close_gracefully(connection&, input_buffer&, bool);
template asio::awaitable<read_result> read_more(blocking_connection&, input_buffer&);
template asio::awaitable<next_step> serve_request(blocking_connection&, loop_env&, input_buffer&, bool, std::uint64_t);
template asio::awaitable<void> close_gracefully(blocking_connection&, input_buffer&, bool);

} // namespace cvp
