#pragma once

/// The two ways a call waits in a connection pool's queue (downstream_pool.hpp), for any
/// kind of connection: on a timer of the caller's executor, holding no thread, or on a
/// condition variable, blocking the caller's thread (`threads`, and blocking work).

#include "server/asio.hpp"
#include "server/downstream_pool.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

namespace cvp {

/// A queued call of a coroutine: a timer on its executor, cancelled when it is handed a
/// connection.
template <typename Conn>
struct async_pool_waiter final : pool_waiter<Conn>, std::enable_shared_from_this<async_pool_waiter<Conn>>
{
    explicit async_pool_waiter(asio::any_io_executor ex)
        : timer(std::move(ex))
    {}

    void wake() override
    {
        // The timer belongs to the caller's executor: cancel it there, never from this thread.
        asio::post(timer.get_executor(), [self = this->shared_from_this()] { self->timer.cancel(); });
    }

    asio::steady_timer timer;
};

/// A waiter for the calling coroutine.
template <typename Conn>
asio::awaitable<std::shared_ptr<async_pool_waiter<Conn>>> make_async_waiter()
{
    co_return std::make_shared<async_pool_waiter<Conn>>(co_await asio::this_coro::executor);
}

/// Until woken (a posted cancel) or the deadline; the pool's settle() says which.
template <typename Conn>
asio::awaitable<void> wait_async(async_pool_waiter<Conn>& w, std::chrono::steady_clock::time_point deadline)
{
    w.timer.expires_at(deadline);
    [[maybe_unused]] auto [ec] = co_await w.timer.async_wait(use_tuple);
}

/// A queued call of a thread that blocks.
template <typename Conn>
struct blocking_pool_waiter final : pool_waiter<Conn>
{
    void wake() override
    {
        {
            std::lock_guard lock{mutex};
            woken = true;
        }
        woken_cv.notify_one();
    }

    /// Until woken or the deadline; the pool's settle() says which.
    void wait(std::chrono::steady_clock::time_point deadline)
    {
        std::unique_lock lock{mutex};
        woken_cv.wait_until(lock, deadline, [&] { return woken; });
    }

    std::mutex mutex;
    std::condition_variable woken_cv;
    bool woken = false;
};

/// Waiting in a pool's queue holding no thread: the loop models' transports derive from it.
template <typename Conn>
struct async_waiting
{
    using waiter = async_pool_waiter<Conn>;
    static asio::awaitable<std::shared_ptr<waiter>> make_waiter() { return make_async_waiter<Conn>(); }
    static asio::awaitable<void> wait(waiter& w, std::chrono::steady_clock::time_point deadline) { return wait_async(w, deadline); }
};

/// Waiting in a pool's queue blocking the calling thread: `threads`' transports derive from it.
template <typename Conn>
struct blocking_waiting
{
    using waiter = blocking_pool_waiter<Conn>;
    static asio::awaitable<std::shared_ptr<waiter>> make_waiter() { co_return std::make_shared<waiter>(); }

    /// The connection's thread sleeps here: it has nothing else to run meanwhile.
    static asio::awaitable<void> wait(waiter& w, std::chrono::steady_clock::time_point deadline)
    {
        w.wait(deadline);
        co_return;
    }
};

/// Takes a connection from `pool` into `conn` for a call of `transport` (empty: a permit to
/// open one), waiting in the pool's queue until `deadline` when it must; `reused` says an
/// idle one was taken. Returns the fault when there is none to be had.
template <typename Transport, typename Conn>
asio::awaitable<std::optional<downstream_fault>> take_connection(connection_pool<Conn>& pool, Transport& transport,
                                                                 std::unique_ptr<Conn>& conn, bool& reused,
                                                                 std::chrono::steady_clock::time_point deadline)
{
    auto w = co_await transport.make_waiter();
    auto g = pool.acquire(w);
    using kind = typename connection_pool<Conn>::grant::kind;
    switch (g.what) {
    case kind::idle:
        conn = std::move(g.conn);
        reused = true;
        co_return std::nullopt;
    case kind::open: co_return std::nullopt;
    case kind::full: co_return downstream_fault::exhausted;
    case kind::queued: break;
    }
    // In line until a connection is handed over or the deadline passes.
    co_await transport.wait(*w, deadline);
    if (!pool.settle(*w)) {
        pool.count(downstream_fault::queue_timeout);
        co_return downstream_fault::queue_timeout;
    }
    conn = std::move(w->conn);
    reused = conn != nullptr;
    co_return std::nullopt;
}

} // namespace cvp
