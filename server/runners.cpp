#include "server/runners.hpp"

#include "common/clock.hpp"
#include "server/asio.hpp"
#include "server/cpu_limits.hpp"
#include "server/delay_figures.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>
#include <iostream>
#include <string>

namespace cvp {

work_record run_here(work_fn const& fn, int worker, std::int64_t submit_ns)
{
    work_record r;
    r.worker = worker;
    r.submit_ns = submit_ns;
    auto const cpu_before = thread_cpu_ns();
    r.start_ns = monotonic_ns();
    fn();
    r.end_ns = monotonic_ns();
    r.cpu_ns = thread_cpu_ns() - cpu_before;
    return r;
}

// ---------------------------------------------------------------------------------------
// inline_runner

asio::awaitable<std::optional<work_record>> inline_runner::run(work_kind, work_fn fn)
{
    // Run it right here, on the loop: nothing else on this loop moves meanwhile.
    auto const r = run_here(fn, current_worker(), monotonic_ns());
    record_work(r.end_ns - r.start_ns);
    co_return r;
}

asio::awaitable<std::optional<std::vector<work_record>>> inline_runner::run_all(work_kind, std::vector<work_fn> fns)
{
    // One after another: a single loop has no second core to offer.
    auto const submit = monotonic_ns();
    std::vector<work_record> records;
    records.reserve(fns.size());
    for (auto const& fn : fns) {
        records.push_back(run_here(fn, current_worker(), submit));
        record_work(records.back().end_ns - records.back().start_ns);
    }
    co_return records;
}

// ---------------------------------------------------------------------------------------
// thread_runner

asio::awaitable<wait_record> thread_runner::wait(std::chrono::milliseconds duration)
{
    // Block right here: the connection's thread has nothing else to run meanwhile.
    wait_record w;
    w.start_ns = monotonic_ns();
    signals_.sleep(duration);
    w.end_ns = monotonic_ns();
    co_return w;
}

// ---------------------------------------------------------------------------------------
// offload_pool

offload_pool::offload_pool(unsigned threads, std::size_t queue_capacity, unsigned nice_increment)
    : thread_count_(threads)
    , queue_capacity_(queue_capacity)
    , nice_increment_(nice_increment)
    , ctx_(static_cast<int>(threads))
    , guard_(ctx_.get_executor())
{}

void offload_pool::add_workers(stats_registry& stats)
{
    stats_ = &stats;
    for (unsigned i = 0; i < thread_count_; ++i)
        worker_ids_.push_back(stats.add(worker_kind::pool_thread, std::nullopt, false));
}

offload_pool::~offload_pool()
{
    stop();
}

void offload_pool::start()
{
    for (auto const id : worker_ids_) {
        threads_.emplace_back([this, id, &counters = stats_->counters(id)] {
            set_current_worker(id, counters);
            // The loop answers timers and sockets; CPU work may wait for it, not the other way.
            auto const lowered = lower_current_thread_priority(static_cast<int>(nice_increment_));
            if (!lowered)
                std::cerr << "cvp-server: could not lower the priority of pool thread " << id << '\n';
            // /stats shows the least any thread got, so one thread's failure is not hidden.
            auto const got = static_cast<unsigned>(lowered.value_or(0));
            auto seen = nice_below_loop_.load(std::memory_order_relaxed);
            while (got < seen && !nice_below_loop_.compare_exchange_weak(seen, got, std::memory_order_relaxed)) {
            }
            name_current_thread("cvp-pool-" + std::to_string(id));
            ctx_.run();
            leave_current_worker();
        });
    }
}

void offload_pool::stop()
{
    guard_.reset();
    ctx_.stop();
    for (auto& t : threads_)
        if (t.joinable())
            t.join();
    threads_.clear();
}

bool offload_pool::admit(std::size_t n) noexcept
{
    // Room for `n` more while running + waiting stays within threads + queue capacity.
    auto const limit = thread_count_ + queue_capacity_;
    auto current = in_flight_.load(std::memory_order_relaxed);
    do {
        if (current + n > limit) {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
    } while (!in_flight_.compare_exchange_weak(current, current + n, std::memory_order_relaxed));
    return true;
}

work_record offload_pool::execute(work_fn const& fn, std::int64_t submit_ns)
{
    // Leave the queue whatever happens inside fn.
    struct in_flight_guard
    {
        offload_pool& pool;
        explicit in_flight_guard(offload_pool& p)
            : pool(p)
        {
            pool.running_.fetch_add(1, std::memory_order_relaxed);
        }
        ~in_flight_guard()
        {
            pool.running_.fetch_sub(1, std::memory_order_relaxed);
            pool.in_flight_.fetch_sub(1, std::memory_order_relaxed);
            pool.completed_.fetch_add(1, std::memory_order_relaxed);
        }
        in_flight_guard(in_flight_guard const&) = delete;
        in_flight_guard& operator=(in_flight_guard const&) = delete;
    } guard{*this};

    auto const r = run_here(fn, current_worker(), submit_ns);
    record_work(r.end_ns - r.start_ns);
    {
        std::lock_guard lock{queue_wait_mutex_};
        queue_wait_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(r.start_ns - submit_ns, 0) / 1000));
    }
    return r;
}

template <class Token>
auto offload_pool::async_execute(work_fn fn, std::int64_t submit_ns, Token&& token)
{
    // Not co_spawn: in Boost 1.81 its completion is first posted back through the pool's
    // own queue, so a finished task's answer waited behind every task still queued. Here
    // the result goes straight to the awaiting session's executor.
    auto initiate = [this](auto handler, work_fn job, std::int64_t submit) {
        auto resume_on = asio::get_associated_executor(handler);
        auto keep_alive = asio::make_work_guard(resume_on);
        asio::post(ctx_, [this, handler = std::move(handler), keep_alive = std::move(keep_alive), job = std::move(job), submit]() mutable {
            std::exception_ptr failure;
            work_record record;
            try {
                record = execute(job, submit);
            } catch (...) {
                failure = std::current_exception();
            }
            auto ex = keep_alive.get_executor();
            asio::dispatch(ex, [handler = std::move(handler), failure, record]() mutable { std::move(handler)(failure, record); });
        });
    };
    return asio::async_initiate<Token, void(std::exception_ptr, work_record)>(std::move(initiate), std::forward<Token>(token),
                                                                              std::move(fn), submit_ns);
}

asio::awaitable<std::optional<work_record>> offload_pool::run(work_kind, work_fn fn)
{
    if (!admit(1))
        co_return std::nullopt;

    // Run on a pool thread, then resume on the session's loop.
    auto op = async_execute(std::move(fn), monotonic_ns(), asio::use_awaitable);
    co_return co_await std::move(op);
}

asio::awaitable<std::optional<std::vector<work_record>>> offload_pool::run_all(work_kind, std::vector<work_fn> fns)
{
    if (fns.empty())
        co_return std::vector<work_record>{};
    if (!admit(fns.size()))
        co_return std::nullopt;

    // One deferred operation per piece, all launched together and awaited as a group.
    auto const submit = monotonic_ns();
    using op_type = decltype(async_execute(work_fn{}, submit, asio::deferred));
    std::vector<op_type> ops;
    ops.reserve(fns.size());
    for (auto& fn : fns)
        ops.push_back(async_execute(std::move(fn), submit, asio::deferred));

    auto group = asio::experimental::make_parallel_group(std::move(ops));
    auto wait = group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    auto [order, exceptions, records] = co_await std::move(wait);

    // A piece that threw is a bug; pass it on like any other.
    for (auto const& e : exceptions)
        if (e)
            std::rethrow_exception(e);
    co_return std::vector<work_record>(records.begin(), records.end());
}

pool_snapshot offload_pool::read() const
{
    pool_snapshot s;
    s.threads = thread_count_;
    s.queue_capacity = queue_capacity_;
    auto const in_flight = in_flight_.load(std::memory_order_relaxed);
    s.running = running_.load(std::memory_order_relaxed);
    s.queue_depth = in_flight > s.running ? in_flight - s.running : 0;
    s.completed = completed_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    auto const nice = nice_below_loop_.load(std::memory_order_relaxed);
    s.nice_below_loop = nice == not_started ? 0 : nice;
    std::lock_guard lock{queue_wait_mutex_};
    s.queue_wait = delay_summary(queue_wait_);
    s.queue_wait_buckets = prometheus_buckets(queue_wait_);
    return s;
}

} // namespace cvp
