#pragma once

/// The one narrow interface between handlers and execution models.
///
/// A handler says only what kind of work it has ("this is CPU work", "this blocks") and
/// hands over a plain function. The model decides where that function runs: inline on
/// the serving event loop, or on a bounded pool, after which the handler resumes on its
/// loop. Handlers never learn which model is running.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace cvp {

/// What a piece of work does to the thread that runs it.
enum class work_kind
{
    cpu,      ///< keeps a core busy until done
    blocking, ///< holds the thread without using the core (the anti-pattern)
};

/// Where and when a piece of work ran, as the thread that ran it saw it.
struct work_record
{
    /// Index of the thread that ran it (see /stats workers[].id).
    int worker = 0;
    /// CLOCK_MONOTONIC when the handler handed it over, when it started and ended.
    std::int64_t submit_ns = 0;
    std::int64_t start_ns = 0;
    std::int64_t end_ns = 0;
    /// CLOCK_THREAD_CPUTIME_ID time it consumed.
    std::int64_t cpu_ns = 0;
};

/// When a wait began and ended (CLOCK_MONOTONIC), as the thread that waited saw it.
struct wait_record
{
    std::int64_t start_ns = 0;
    std::int64_t end_ns = 0;
};

/// A piece of work: runs to completion on whichever thread the model chooses.
using work_fn = std::function<void()>;

/// Runs handler work where the execution model says it belongs.
class work_runner
{
public:
    virtual ~work_runner() = default;

    /// Runs `fn`, then resumes the caller on its own executor. Returns empty when the
    /// model refused the work because it is overloaded; the caller answers 503.
    virtual boost::asio::awaitable<std::optional<work_record>> run(work_kind kind, work_fn fn) = 0;

    /// Runs independent pieces: at the same time where the model has a pool, one after
    /// another otherwise. All are admitted or none is (empty result: overloaded).
    virtual boost::asio::awaitable<std::optional<std::vector<work_record>>> run_all(work_kind kind, std::vector<work_fn> fns) = 0;

    /// Waits `duration`, as a handler waits for a downstream call. By default on a timer
    /// of the serving executor, holding no thread; a model whose connections own their
    /// threads blocks the connection's thread instead.
    virtual boost::asio::awaitable<wait_record> wait(std::chrono::milliseconds duration);

protected:
    work_runner() = default;
    work_runner(work_runner const&) = default;
    work_runner& operator=(work_runner const&) = default;
};

} // namespace cvp
