#include "server/session.hpp"

#include "server/clock.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

namespace cvp {

void session_registry::close_idle()
{
    // A session whose next request has already arrived is not idle: it is served, then closes.
    for (auto& e : entries_) {
        error_code ec;
        if (e.idle && e.stream->socket().available(ec) == 0)
            e.stream->cancel();
    }
}

void session_registry::close_all()
{
    for (auto& e : entries_) {
        error_code ignored;
        e.stream->socket().cancel(ignored);
        e.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
}

namespace {

using response = http::response<http::string_body>;

/// Milliseconds with three decimals, as Server-Timing wants them.
std::string millis(std::int64_t ns)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns > 0 ? ns : 0) / 1e6);
    return buf;
}

/// Turns a handler's reply into a response carrying the attribution headers.
response make_response(reply r, unsigned version, bool head, loop_env const& env, std::int64_t parsed_ns)
{
    response res{r.status, version};
    res.set(http::field::server, "cvp");
    res.set(http::field::content_type, r.content_type);
    res.set("X-Mode", env.mode);

    // Who ran the work, and how long it waited and took.
    std::int64_t queue_ns = 0;
    std::int64_t work_ns = 0;
    int worker = env.worker;
    if (r.work) {
        worker = r.work->worker;
        queue_ns = r.work->start_ns - r.work->submit_ns;
        work_ns = r.work->end_ns - r.work->start_ns;
    }
    res.set("X-Worker", std::to_string(worker));
    res.set("Server-Timing",
            "queue;dur=" + millis(queue_ns) + ", work;dur=" + millis(work_ns) + ", total;dur=" + millis(monotonic_ns() - parsed_ns));
    for (auto& [field, value] : r.headers)
        res.set(field, value);

    // HEAD gets the headers of GET, Content-Length included, and no body.
    auto const length = r.body.size();
    if (!head)
        res.body() = std::move(r.body);
    res.content_length(length);
    return res;
}

/// A reply for input that cannot be parsed as HTTP; the connection closes after it.
reply protocol_error(error_code const& ec, std::uint32_t header_limit, std::uint64_t body_limit)
{
    if (ec == http::error::header_limit)
        return error_reply(http::status::request_header_fields_too_large,
                           "request header exceeds " + std::to_string(header_limit) + " bytes");
    if (ec == http::error::body_limit)
        return error_reply(http::status::payload_too_large, "request body exceeds " + std::to_string(body_limit) + " bytes");
    return error_reply(http::status::bad_request, "malformed request: " + ec.message());
}

/// True for errors that only mean the peer went away or a timer fired.
bool is_quiet(error_code const& ec)
{
    return ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe || ec == asio::error::not_connected ||
           ec == http::error::partial_message;
}

void log_error(char const* what, error_code const& ec)
{
    std::cerr << "cvp-server: " << what << ": " << ec.message() << '\n';
}

/// Closes our sending side so the peer sees a clean end of stream.
void shutdown_send(beast::tcp_stream& stream)
{
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

/// Writes one response under the write timeout.
asio::awaitable<error_code> write_response(beast::tcp_stream& stream, response& res, loop_env const& env)
{
    stream.expires_after(env.cfg.write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return ec;
}

/// Answers with `r` and closes: for input after which the connection cannot go on.
asio::awaitable<void> answer_and_close(beast::tcp_stream& stream, reply r, loop_env const& env)
{
    auto res = make_response(std::move(r), 11, false, env, monotonic_ns());
    res.keep_alive(false);
    co_await write_response(stream, res, env);
    shutdown_send(stream);
}

/// Keeps the per-loop and process-wide connection figures true for a session's life.
class connection_scope
{
public:
    connection_scope(loop_env& env, beast::tcp_stream& stream)
        : env_(env)
        , handle_(env.sessions.add(stream))
    {
        worker_counters::bump(env_.counters.connections_open);
        worker_counters::bump(env_.counters.connections_total);
    }
    ~connection_scope()
    {
        env_.sessions.remove(handle_);
        env_.counters.connections_open.fetch_sub(1, std::memory_order_relaxed);
        env_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    }
    connection_scope(connection_scope const&) = delete;
    connection_scope& operator=(connection_scope const&) = delete;

    /// Marks the session as waiting for its next request (closable by a drain).
    void idle(bool yes) { handle_->idle = yes; }

private:
    loop_env& env_;
    session_registry::handle handle_;
};

/// Runs the handler, turning a bug (an exception) into a 500 rather than a lost request.
asio::awaitable<reply> dispatch(loop_env& env, request const& req)
{
    request_context ctx{req, env.mode, env.worker, env.runner, env.server};
    try {
        co_return co_await env.routes.dispatch(ctx);
    } catch (std::exception const& e) {
        std::cerr << "cvp-server: handler for " << req.target() << " failed: " << e.what() << '\n';
    }
    co_return error_reply(http::status::internal_server_error, "internal error");
}

} // namespace

asio::awaitable<void> run_session(beast::tcp_stream stream, loop_env& env)
{
    connection_scope scope{env, stream};
    beast::flat_buffer buffer;
    bool first = true;

    for (;;) {
        // Wait for the next request, unless pipelined bytes are already here. The first
        // request on a connection gets the header timeout, later ones the idle timeout.
        if (buffer.size() == 0) {
            if (env.server.draining()) {
                shutdown_send(stream);
                co_return;
            }
            scope.idle(true);
            stream.expires_after(first ? env.cfg.header_timeout : env.cfg.idle_timeout);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
            scope.idle(false);
            if (ec) {
                if (ec == asio::error::eof)
                    shutdown_send(stream);
                else if (!is_quiet(ec))
                    log_error("read", ec);
                co_return;
            }
            buffer.commit(n);
        }

        // Read the whole request, with a fresh parser and its limits, under the header timeout.
        http::request_parser<http::string_body> parser;
        parser.header_limit(env.cfg.max_header_bytes);
        parser.body_limit(env.cfg.max_body_bytes);
        stream.expires_after(env.cfg.header_timeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec) {
            if (ec == http::error::end_of_stream) {
                shutdown_send(stream);
                co_return;
            }
            if (is_quiet(ec) || ec.category() != http::make_error_code(http::error::bad_target).category()) {
                if (!is_quiet(ec))
                    log_error("read", ec);
                co_return;
            }
            // Malformed HTTP: say what was wrong, then close.
            co_await answer_and_close(stream, protocol_error(ec, env.cfg.max_header_bytes, env.cfg.max_body_bytes), env);
            co_return;
        }
        auto const parsed_ns = monotonic_ns();
        request const& req = parser.get();

        // HTTP/1.0 and 1.1 only; "HTTP/9.9" parses, but is not a request we understand.
        if (req.version() != 10 && req.version() != 11) {
            co_await answer_and_close(stream, error_reply(http::status::bad_request, "malformed request: unsupported HTTP version"), env);
            co_return;
        }

        // Handle it. The expiry is off meanwhile: work may take longer than any I/O timeout.
        stream.expires_never();
        worker_counters::bump(env.counters.requests_in_flight);
        auto r = co_await dispatch(env, req);

        // Keep the connection unless the client, the reply or a drain says otherwise; a
        // drain still serves requests that are already in the buffer.
        bool const keep_alive = req.keep_alive() && !r.close && !(env.server.draining() && buffer.size() == 0);
        auto res = make_response(std::move(r), req.version(), req.method() == http::verb::head, env, parsed_ns);
        res.keep_alive(keep_alive);
        auto const wec = co_await write_response(stream, res, env);
        env.counters.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
        worker_counters::bump(env.counters.requests);
        if (wec) {
            if (!is_quiet(wec))
                log_error("write", wec);
            co_return;
        }
        if (!keep_alive) {
            shutdown_send(stream);
            co_return;
        }
        first = false;
    }
}

asio::awaitable<void> refuse_connection(beast::tcp_stream stream, loop_env& env)
{
    auto r = error_reply(http::status::service_unavailable,
                         "too many connections: the limit of " + std::to_string(env.cfg.max_connections) + " is reached");
    r.headers.emplace_back(http::field::retry_after, "1");
    co_await answer_and_close(stream, std::move(r), env);
}

} // namespace cvp
