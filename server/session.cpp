#include "server/session.hpp"

#include "common/clock.hpp"
#include "server/chunked_decoder.hpp"
#include "server/framing.hpp"
#include "server/input_buffer.hpp"
#include "server/recycler.hpp"
#include "server/response_text.hpp"

#include <boost/asio/post.hpp>

#include <array>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory_resource>
#include <optional>
#include <vector>

namespace cvp {

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

session_registry::handle session_registry::add(connection& c)
{
    std::lock_guard lock{mutex_};
    return entries_.insert(entries_.end(), &c);
}

void session_registry::remove(handle h)
{
    std::lock_guard lock{mutex_};
    entries_.erase(h);
}

template <class Step>
void session_registry::for_each(Step step)
{
    // Owners of the live ones, taken under the lock. A connection whose last owner is
    // gone is about to leave the registry: skip it.
    std::vector<std::shared_ptr<connection>> alive;
    {
        std::lock_guard lock{mutex_};
        alive.reserve(entries_.size());
        for (auto* c : entries_)
            if (auto owner = c->weak_from_this().lock())
                alive.push_back(std::move(owner));
    }
    // Posted after the lock is released: a step on another thread may end the connection
    // meanwhile, and then the reference held here is its last, whose destructor takes
    // the lock to leave the registry.
    for (auto& c : alive) {
        auto ex = c->executor();
        asio::post(ex, [c = std::move(c), step] { step(*c); });
    }
}

void session_registry::begin_drain(connection::clock::time_point grace_deadline)
{
    for_each([grace_deadline](connection& c) {
        if (c.idle())
            c.set_read_deadline(std::min(c.read_deadline(), grace_deadline));
    });
}

void session_registry::close_all()
{
    for_each([](connection& c) { c.close(); });
}

namespace {

using clock = connection::clock;

/// The parser of one request, with an arena for its fields: taken from a per-thread
/// recycler for each request, so that parsing allocates nothing once warm.
struct request_slot
{
    /// Room for the fields of a typical request; larger headers spill to the heap.
    std::array<std::byte, 1024> storage;
    std::pmr::monotonic_buffer_resource arena{storage.data(), storage.size()};
    std::optional<request_parser> parser;
    /// What the framing rules, the router and the handler said of the request. Kept here
    /// rather than in serve_request's frame, so that the frame stays small enough for
    /// Asio's per-thread frame cache (about 1 KiB) and costs no allocation per request.
    framing rules;
    route_match route;
    reply answer;

    /// A fresh parser with the header limit, over an emptied arena.
    request_parser& start(std::uint32_t header_limit)
    {
        parser.reset();
        arena.release();
        parser.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(std::pmr::polymorphic_allocator<char>{&arena}));
        parser->header_limit(header_limit);
        return *parser;
    }
};

/// Returns a request_slot to the recycler when the request is done.
struct slot_return
{
    void operator()(request_slot* s) const
    {
        s->parser.reset();
        recycler<request_slot>::give(std::unique_ptr<request_slot>{s});
    }
};
using slot_handle = std::unique_ptr<request_slot, slot_return>;

slot_handle take_slot()
{
    return slot_handle{recycler<request_slot>::take().release()};
}

/// True for errors that only mean the peer went away or a deadline closed the socket.
bool is_quiet(error_code const& ec)
{
    return ec == asio::error::operation_aborted || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::not_connected || ec == asio::error::bad_descriptor;
}

void log_error(char const* what, error_code const& ec)
{
    std::cerr << "cvp-server: " << what << ": " << ec.message() << '\n';
}

/// How a read ended.
enum class read_result
{
    got_bytes,
    peer_closed, ///< end of stream: the client sends nothing more
    failed,      ///< reset, timeout or error: the connection is done
    full,        ///< the buffer is at its cap
};

/// Reads what the socket has into `in`. Only when it has nothing are answers flushed and
/// the read awaited, so a pipelined burst is answered in one write.
asio::awaitable<read_result> read_more(connection& conn, input_buffer& in)
{
    auto space = in.prepare();
    if (space.empty())
        co_return read_result::full;

    // Whatever is there already, without waiting.
    error_code ec;
    auto n = conn.socket().read_some(asio::buffer(space.data(), space.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
        // Nothing yet: send what is ready, then wait, unless the deadline has passed.
        conn.flush();
        if (conn.read_deadline() <= clock::now())
            co_return read_result::failed;
        auto [rec, rn] = co_await conn.socket().async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
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

/// Appends `r` with "Connection: close"; the session then closes.
void answer_and_close(connection& conn, reply const& r, loop_env const& env)
{
    append_response(conn.output(), r, response_meta{env.mode, current_worker(), monotonic_ns(), 1, false, false});
    worker_counters::bump(current_counters().responses);
}

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

/// What serve_request leaves the session to do.
enum class next_step
{
    keep_alive, ///< wait for the next request
    close,      ///< the answer said "close": flush, then close gracefully
    abort,      ///< the peer is gone or a deadline passed: close now
};

/// Reads and discards a request body, as framed; an error reply ends the connection.
asio::awaitable<std::optional<reply>> discard_body(connection& conn, input_buffer& in, framing const& f, loop_env const& env, bool& aborted)
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
                co_return error_reply(http::status::bad_request, "malformed request: bad chunked encoding");
            case chunked_decoder::status::body_too_large:
                co_return error_reply(http::status::payload_too_large,
                                      "request body exceeds " + std::to_string(env.cfg.max_body_bytes) + " bytes");
            case chunked_decoder::status::line_too_long:
                co_return error_reply(http::status::payload_too_large,
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

/// Reads one request, runs its handler and queues the answer.
asio::awaitable<next_step> serve_request(connection& conn, loop_env& env, input_buffer& in, bool first)
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
            answer_and_close(conn, parse_error_reply(ec, cfg.max_header_bytes, cfg.max_body_bytes), env);
            co_return next_step::close;
        }
        need_deadline();
        auto const r = co_await read_more(conn, in);
        if (r == read_result::got_bytes)
            continue;
        if (auto answer = reply_for(r, false, env)) {
            answer_and_close(conn, *answer, env);
            co_return next_step::close;
        }
        co_return next_step::abort;
    }
    auto const& req = parser.get();

    // The framing rules, then the route: both decide before any body is read.
    auto& f = slot->rules;
    f = check_framing(parser, cfg.max_body_bytes);
    if (f.error) {
        answer_and_close(conn, *f.error, env);
        co_return next_step::close;
    }
    auto& route = slot->route;
    route = env.routes.find(req);

    // A client waiting on 100-continue hears now whether to send its body.
    if (f.expects_continue) {
        if (route.error) {
            answer_and_close(conn, *route.error, env);
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
            answer_and_close(conn, *problem, env);
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
        request_context ctx{req, env.mode, taken_by, env.runner, env.server};
        try {
            r = co_await route.fn(ctx, *route.where);
        } catch (std::exception const& e) {
            std::cerr << "cvp-server: handler for " << req.target() << " failed: " << e.what() << '\n';
            r = error_reply(http::status::internal_server_error, "internal error");
        }
    }

    // Keep the connection unless the client or the reply says otherwise. In a drain the
    // answer says "close" once the client has nothing more on the wire.
    bool keep_alive = f.keep_alive && !r.close;
    if (keep_alive && env.gate.closed()) {
        error_code ignored;
        keep_alive = !in.empty() || conn.socket().available(ignored) > 0;
    }
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

/// Sends what is queued, then closes gracefully: our side first, then, for a while, the
/// client's, reading and discarding what it still sends so the close does not reset the
/// last answer away (RFC 9112 §9.6).
asio::awaitable<void> close_gracefully(connection& conn, input_buffer& in, bool peer_closed)
{
    conn.flush();
    co_await conn.drained();
    if (!conn.failed() && !conn.expired()) {
        error_code ignored;
        conn.socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (!peer_closed) {
            conn.set_read_deadline(clock::now() + linger_time);
            for (;;) {
                in.consume(in.size());
                if (co_await read_more(conn, in) != read_result::got_bytes)
                    break;
            }
            in.consume(in.size());
        }
    }
    conn.close();
}

/// A connection with what its session keeps between requests. Idle, this object, the
/// socket's reactor entry and two pending operations (the readability wait and the
/// deadline timer) are all that a connection holds: no coroutine frame and no buffer.
class session final : public connection
{
public:
    session(socket_type socket, loop_env& env, std::optional<strand_type> strand)
        : connection(std::move(socket), std::move(strand), env.cfg.write_timeout)
        , in(env.cfg.max_header_bytes + read_slack)
        , env_(env)
    {
        auto& counters = current_counters();
        worker_counters::bump(counters.connections_open);
        worker_counters::bump(counters.connections_total);
    }
    ~session() override
    {
        if (handle_)
            env_.sessions.remove(*handle_);
        worker_counters::drop(current_counters().connections_open);
        env_.gate.leave();
    }
    session(session const&) = delete;
    session& operator=(session const&) = delete;

    loop_env& env() noexcept { return env_; }

    /// Joins the registry, where a drain on another thread may find it: only once its
    /// shared_ptr exists, since the drain reaches it through weak_from_this().
    void enlist() { handle_ = env_.sessions.add(*this); }

    /// Bytes read and not yet parsed; holds no storage while empty.
    input_buffer in;
    /// Where an idle connection's read puts the first bytes of its next request: a
    /// typical keep-alive request fits whole, and a longer one continues into `in`.
    std::array<char, 64> landing;
    std::uint8_t landed = 0;
    /// The next request is the connection's first: its header deadline ran from accept.
    bool first = true;

private:
    loop_env& env_;
    std::optional<session_registry::handle> handle_;
};

asio::awaitable<void> serve(std::shared_ptr<session> s);

/// Between requests: reads the first bytes of the next one into the session's landing
/// area with a plain callback, so that no coroutine frame and no buffer is kept while the
/// connection is idle, then serves again. A read rather than a wait for readability:
/// Asio re-arms epoll (epoll_ctl) for every wait, but a read whose last try found the
/// socket drained is simply queued, so a keep-alive request costs one recv and one send,
/// as in nginx, where the wait cost a recv that found nothing and an epoll_ctl as well.
void park(std::shared_ptr<session> s)
{
    s->in.release();
    s->flush();
    s->set_idle(true);
    // In a drain, a waiting connection may still deliver one request, within the grace window.
    auto& env = s->env();
    if (env.gate.closed())
        s->set_read_deadline(std::min(s->read_deadline(), env.gate.grace_deadline()));
    auto* raw = s.get();
    raw->start([raw](auto handler) { raw->socket().async_read_some(asio::buffer(raw->landing), std::move(handler)); },
               [s = std::move(s)](error_code ec, std::size_t n) mutable {
                   // Only a wait that got nothing ends here: the peer left, or its deadline
                   // passed and cancelled the read.
                   if (ec) {
                       if (!is_quiet(ec))
                           log_error("read", ec);
                       s->close();
                       return;
                   }
                   // Bytes that landed came before the deadline's cancel could stop them.
                   s->reprieve();
                   s->landed = static_cast<std::uint8_t>(n);
                   auto ex = s->executor();
                   asio::co_spawn(ex, serve(std::move(s)), on_coroutine_end);
               });
}

/// Serves requests while the connection has input; parks it when it has none.
asio::awaitable<void> serve(std::shared_ptr<session> s)
{
    auto& env = s->env();
    bool peer_closed = false;
    for (;;) {
        if (s->in.empty()) {
            auto space = s->in.prepare();
            if (s->landed > 0) {
                // What the idle read brought: the start of the next request.
                std::memcpy(space.data(), s->landing.data(), s->landed);
                s->in.commit(s->landed);
                s->landed = 0;
            } else if (!s->first) {
                // The last read found the socket drained: wait, with nothing held.
                park(std::move(s));
                co_return;
            } else {
                // A new connection's request is often in already: take it without waiting.
                error_code ec;
                auto const n = s->socket().read_some(asio::buffer(space.data(), space.size()), ec);
                if (ec == asio::error::would_block || ec == asio::error::try_again) {
                    park(std::move(s));
                    co_return;
                }
                if (ec) {
                    peer_closed = ec == asio::error::eof;
                    if (!peer_closed && !is_quiet(ec))
                        log_error("read", ec);
                    break;
                }
                s->in.commit(n);
            }
            s->set_idle(false);
        }

        auto const step = co_await serve_request(*s, env, s->in, s->first);
        if (step == next_step::abort) {
            peer_closed = true;
            break;
        }
        if (step == next_step::close)
            break;
        s->first = false;
        if (s->in.empty())
            s->set_read_deadline(clock::now() + env.cfg.idle_timeout);
    }
    co_await close_gracefully(*s, s->in, peer_closed);
}

/// The first steps of a new connection's session, on the loop (or strand) that will
/// serve it, where it joins the registry once its shared_ptr exists.
asio::awaitable<void> open(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand)
{
    auto s = std::make_shared<session>(std::move(socket), env, std::move(strand));
    s->enlist();

    // Let the loop first run what is already queued on it, such as the acceptor handing
    // other new connections to other loops, before this one may run work inline.
    co_await asio::post(s->executor(), asio::use_awaitable);

    // The first request's whole header is due header-timeout after accept.
    s->set_read_deadline(clock::now() + s->env().cfg.header_timeout);
    s->set_idle(true);
    co_await serve(std::move(s));
}

/// Answers 503 "too many connections" and closes: the connection limit was reached.
asio::awaitable<void> refuse(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand)
{
    auto conn = std::make_shared<connection>(std::move(socket), std::move(strand), env.cfg.write_timeout);
    auto r = error_reply(http::status::service_unavailable,
                         "too many connections: the limit of " + std::to_string(env.gate.cap()) + " is reached");
    r.headers.emplace_back(http::field::retry_after, "1");
    answer_and_close(*conn, r, env);
    input_buffer in{read_slack};
    co_await close_gracefully(*conn, in, false);
}

} // namespace

namespace {

/// Where a connection's coroutine runs: its strand, or its socket's loop.
asio::any_io_executor home_of(connection::socket_type& socket, std::optional<connection::strand_type> const& strand)
{
    if (strand)
        return *strand;
    return socket.get_executor();
}

} // namespace

void start_session(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand)
{
    // The accepting thread may not be the serving loop's: the session is made on the latter.
    auto ex = home_of(socket, strand);
    asio::co_spawn(ex, open(std::move(socket), env, std::move(strand)), on_coroutine_end);
}

void admit_session(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand)
{
    // Over the limit: answer 503 and close, rather than queueing without bound.
    if (!env.gate.enter()) {
        env.gate.count_rejected();
        refuse_connection(std::move(socket), env, std::move(strand));
        return;
    }
    start_session(std::move(socket), env, std::move(strand));
}

void refuse_connection(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand)
{
    auto ex = home_of(socket, strand);
    asio::co_spawn(ex, refuse(std::move(socket), env, std::move(strand)), on_coroutine_end);
}

} // namespace cvp
