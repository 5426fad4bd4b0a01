#pragma once

/// A downstream client over a pool of keep-alive connections, written once for both ways of
/// waiting: `Transport` is the async one (downstream_async.hpp: the loop's sockets, no thread
/// held) or the blocking one (downstream_blocking.hpp: `threads`' poll, send and recv).
///
/// A call takes an idle connection, or opens one, or waits in the pool's bounded queue, or
/// is refused (503). It sends its GET and reads the whole answer within --upstream-timeout.
/// A healthy connection goes back to the pool; a broken one is closed and its place freed.
/// When the downstream had closed the idle connection a call took, the call is sent once
/// more on a new one: only GETs are sent, and a GET may be repeated.
///
/// Transport provides:
///   connection                         one open connection (a socket and its read buffer)
///   waiter                             a pool_waiter<connection> that can be waited on
///   awaitable<shared_ptr<waiter>> make_waiter()
///   awaitable<void> wait(waiter&, deadline)      until woken or the deadline
///   awaitable<error_code> open(unique_ptr<connection>&)      connect, within the connect timeout
///   awaitable<error_code> exchange(connection&, request, parser, deadline)

#include "common/clock.hpp"
#include "handlers/downstream.hpp"
#include "server/downstream_http.hpp"
#include "server/downstream_pool.hpp"
#include "server/pool_waiters.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

namespace cvp {

template <typename Transport>
class pooled_downstream final : public downstream_client
{
public:
    using connection = typename Transport::connection;

    pooled_downstream(downstream_target const& target, Transport transport, std::string pool_name)
        : target_(target)
        , transport_(std::move(transport))
        , pool_(std::move(pool_name), target.connections, target.queue)
    {}

    asio::awaitable<downstream_answer> get(std::string target) override
    {
        downstream_answer a;
        a.asked_ns = monotonic_ns();
        auto const deadline = std::chrono::steady_clock::now() + target_.timeout;
        auto const request_text = downstream_request(target_, target);

        for (a.attempts = 1; a.attempts <= 2; ++a.attempts) {
            // A connection: idle, new, or the next one free.
            std::unique_ptr<connection> conn;
            bool reused = false;
            if (auto fault = co_await take_connection(pool_, transport_, conn, reused, deadline)) {
                co_return failed(a, *fault);
            }
            a.reused = reused;

            // A new one is connected first; a failure frees its place.
            if (!conn) {
                auto ec = co_await transport_.open(conn);
                if (ec) {
                    pool_.drop(std::move(conn));
                    co_return failed(a, connect_fault(ec), ec.message());
                }
            }

            // The exchange.
            a.sent_ns = monotonic_ns();
            downstream_parser parser;
            limit_parser(parser, target_);
            auto ec = co_await transport_.exchange(*conn, request_text, parser, deadline);
            if (!ec) {
                auto& res = parser.get();
                a.status = res.result_int();
                a.body = std::move(res.body());
                a.done_ns = monotonic_ns();
                // Kept only when the downstream keeps it.
                if (res.keep_alive())
                    pool_.release(std::move(conn));
                else
                    pool_.drop(std::move(conn));
                co_return a;
            }
            pool_.drop(std::move(conn));

            // A stale idle connection: its older siblings are stale too; once more, on a new one.
            if (reused && a.attempts == 1 && closed_before_answer(ec, parser)) {
                pool_.take_idle();
                pool_.count_retry();
                continue;
            }
            co_return failed(a, exchange_fault(ec), ec.message());
        }
        co_return failed(a, downstream_fault::reset, "the downstream closed a second connection before answering");
    }

    std::string_view origin() const noexcept override { return target_.origin; }

    /// The pool's figures for /stats and /metrics.
    downstream_pool_snapshot snapshot() const { return pool_.snapshot(); }

    /// Closes the idle connections (the server is stopping).
    void close_idle() { pool_.take_idle(); }

private:
    /// Ends `a` with a fault, counted in the pool.
    downstream_answer failed(downstream_answer& a, downstream_fault f, std::string detail = {})
    {
        return end_with_fault(pool_, a, f, std::move(detail));
    }

    downstream_target const& target_;
    Transport transport_;
    connection_pool<connection> pool_;
};

} // namespace cvp
