#include "server/session.hpp"

#include "server/input_buffer.hpp"

#include <boost/asio/post.hpp>

#include <array>
#include <cstring>
#include <memory>
#include <optional>

namespace cvp {

namespace {

using clock = connection::clock;

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
        , counted_(env.gate)
    {}
    ~session() override
    {
        if (handle_)
            env_.sessions.remove(*handle_);
    }
    session(session const&) = delete;
    session& operator=(session const&) = delete;

    loop_env& env() noexcept { return env_; }
    /// The connection's id (counted_connection::id).
    std::uint64_t id() const noexcept { return counted_.id(); }

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
    counted_connection counted_;
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

        auto const step = co_await serve_request<connection>(*s, env, s->in, s->first, s->id());
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
    co_await close_gracefully<connection>(*s, s->in, peer_closed);
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
    answer_and_close(conn->output(), r, env);
    input_buffer in{read_slack};
    co_await close_gracefully(*conn, in, false);
}

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
