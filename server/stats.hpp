#pragma once

/// Per-worker counters. Each counter is written by the thread it belongs to, so nothing
/// on the request path is shared between threads: the atomics are relaxed and sit on
/// their own cache lines. Readers sum them.

#include "server/loop_health.hpp"
#include "server/wait_meter.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cvp {

/// What a worker is serving now, for the stall watchdog to name: set only around handlers
/// that may wait, so that /plaintext pays nothing for it.
class serving_label
{
public:
    /// Records "METHOD target"; returns the token that clears it.
    std::uint64_t set(std::string_view method, std::string_view target);
    /// Clears the label if it is still the one `token` set (in `pool` another request may
    /// have taken this thread's label while this one waited).
    void clear(std::uint64_t token) noexcept;
    /// The label now, or empty.
    std::string get() const;

private:
    mutable std::mutex mutex_;
    std::string what_;        // guarded by mutex_
    std::uint64_t token_ = 0; // guarded by mutex_
};

/// The counters of one worker thread.
struct alignas(64) worker_counters
{
    std::atomic<std::uint64_t> requests{0};
    /// Gauges of the connections this worker owns. In `pool`, where connections belong to
    /// the shared loop rather than to a thread, one thread may raise a gauge and another
    /// lower it: only their sum over the workers means anything there.
    std::atomic<std::uint64_t> requests_in_flight{0};
    std::atomic<std::uint64_t> connections_open{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> tasks{0};
    /// Responses made, and the socket writes that carried them: with pipelining, fewer
    /// writes than responses shows that answers were gathered.
    std::atomic<std::uint64_t> responses{0};
    std::atomic<std::uint64_t> writes{0};
    std::atomic<std::uint64_t> busy_ns{0};
    /// The CPU the thread really got pinned to, or -1.
    std::atomic<int> pinned_cpu{-1};
    /// The request whose handler the thread is in, when that handler may wait.
    serving_label serving;
    /// How long the worker's threads lived, and waited for events.
    wait_meter waits;

    /// Adds to a counter owned by the calling thread.
    static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept
    {
        counter.fetch_add(by, std::memory_order_relaxed);
    }
    /// Takes one from a gauge; in `pool` it may wrap below zero, and the sum is still right.
    static void drop(std::atomic<std::uint64_t>& gauge) noexcept { gauge.fetch_sub(1, std::memory_order_relaxed); }
};

/// What a worker thread is.
enum class worker_kind
{
    loop,              ///< runs an event loop by itself
    pool_thread,       ///< one of a pool's threads: offload's CPU pool, or `pool`'s shared loop
    connection_thread, ///< serves one connection at a time, in `threads`
};

std::string_view to_string(worker_kind k) noexcept;

/// A worker: its id (X-Worker), kind, the CPU it is meant to be pinned to, and whether
/// connections belong to it, so that its connection gauges mean something on their own.
struct worker_info
{
    int id = 0;
    worker_kind kind = worker_kind::loop;
    std::optional<int> cpu;
    bool owns_connections = true;
};

/// The counters of every worker, indexed by worker id. Workers may be added while the
/// server runs (`threads` adds one per concurrent connection); references stay valid.
class stats_registry
{
public:
    /// Adds a worker with the next id and returns that id.
    int add(worker_kind kind, std::optional<int> cpu = std::nullopt, bool owns_connections = true);

    worker_counters& counters(int worker);

    /// Every worker with its counters, for /stats.
    struct entry
    {
        worker_info info;
        worker_counters const* counters;
    };
    std::vector<entry> list() const;

    /// Adds an event loop whose handlers run on `workers`; the reference stays valid.
    loop_health& add_loop(std::string name, std::vector<int> workers);
    /// Every loop, in the order added.
    std::vector<loop_health*> loops();
    std::vector<loop_health const*> loops() const;

private:
    mutable std::mutex mutex_;
    std::deque<worker_info> workers_;
    std::deque<worker_counters> counters_;
    std::deque<loop_health> loops_;
};

/// The calling thread's worker id and counters; the ids a thread without a worker reports
/// are 0, and its counts go to a block no one reads.
int current_worker() noexcept;
worker_counters& current_counters() noexcept;

/// Names the calling thread's worker; each server thread calls it once at start. From
/// then on the thread's life and its waits for events count for that worker.
void set_current_worker(int worker, worker_counters& counters) noexcept;
/// The calling thread stops serving as its worker: its life ends there.
void leave_current_worker() noexcept;

/// Records that the calling thread ran a piece of handler work for `ns` nanoseconds.
void record_work(std::int64_t ns) noexcept;

} // namespace cvp
