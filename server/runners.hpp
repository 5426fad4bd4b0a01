#pragma once

/// The two ways an execution model runs handler work.

#include "common/latency_histogram.hpp"
#include "handlers/stats_snapshot.hpp"
#include "handlers/work.hpp"
#include "server/drain_signals.hpp"
#include "server/stats.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace cvp {

/// Runs `fn` on the calling thread and records where and when; every runner uses it.
work_record run_here(work_fn const& fn, int worker, std::int64_t submit_ns);

/// `single`, `reactors`, `pool` and `threads`: work runs on the thread that serves the
/// request, so it holds up whatever else that thread would run until it is done: every
/// other connection of its loop in `single` and `reactors`, one pool thread in `pool`,
/// and only its own connection in `threads`.
class inline_runner : public work_runner
{
public:
    boost::asio::awaitable<std::optional<work_record>> run(work_kind kind, work_fn fn) override;
    boost::asio::awaitable<std::optional<std::vector<work_record>>> run_all(work_kind kind, std::vector<work_fn> fns) override;
};

/// `threads`: work runs inline, on the connection's own thread, and a wait blocks that
/// thread, as a thread-per-connection server blocks in its downstream call; `signals`'
/// close cuts the wait short.
class thread_runner final : public inline_runner
{
public:
    explicit thread_runner(drain_signals const& signals) noexcept
        : signals_(signals)
    {}

    boost::asio::awaitable<wait_record> wait(std::chrono::milliseconds duration) override;

private:
    drain_signals const& signals_;
};

/// `offload`: a bounded pool of threads. Work is admitted while fewer than
/// threads + queue_capacity tasks are in flight and refused (503) beyond that, so the
/// queue never grows without bound. The awaiting session resumes on its own loop.
class offload_pool final : public work_runner
{
public:
    /// Pool threads run `nice_increment` nice levels below the thread that starts them.
    offload_pool(unsigned threads, std::size_t queue_capacity, unsigned nice_increment);
    ~offload_pool() override;
    offload_pool(offload_pool const&) = delete;
    offload_pool& operator=(offload_pool const&) = delete;

    /// Adds the pool's threads to `stats` as workers; before start().
    void add_workers(stats_registry& stats);
    /// Starts the threads.
    void start();
    /// Lets running tasks finish, drops queued ones, and joins the threads.
    void stop();

    boost::asio::awaitable<std::optional<work_record>> run(work_kind kind, work_fn fn) override;
    boost::asio::awaitable<std::optional<std::vector<work_record>>> run_all(work_kind kind, std::vector<work_fn> fns) override;

    /// A consistent-enough view of the pool for /stats.
    pool_snapshot read() const;
    unsigned threads() const noexcept { return thread_count_; }

private:
    /// Reserves room for n tasks, all or none.
    bool admit(std::size_t n) noexcept;
    /// Runs `fn` on a pool thread, then completes with (exception_ptr, work_record) on the
    /// handler's associated executor (inline on the pool thread if it has none).
    template <class Token>
    auto async_execute(work_fn fn, std::int64_t submit_ns, Token&& token);
    /// Runs one admitted task on the calling pool thread.
    work_record execute(work_fn const& fn, std::int64_t submit_ns);

    stats_registry* stats_ = nullptr;
    std::vector<int> worker_ids_;
    unsigned thread_count_;
    std::size_t queue_capacity_;
    unsigned nice_increment_;
    /// The fewest nice levels any pool thread was lowered by; not_started before any ran.
    static constexpr unsigned not_started = ~0u;
    std::atomic<unsigned> nice_below_loop_{not_started};
    boost::asio::io_context ctx_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;

    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::size_t> running_{0};
    std::atomic<std::uint64_t> completed_{0};
    std::atomic<std::uint64_t> rejected_{0};
    /// Each task's time in the queue, from submit to a thread taking it. A lock per task
    /// costs ~20 ns uncontended against tasks of tens of microseconds and up.
    mutable std::mutex queue_wait_mutex_;
    latency_histogram queue_wait_; // guarded by queue_wait_mutex_
};

} // namespace cvp
