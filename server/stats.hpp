#pragma once

/// Per-worker counters. Each counter has one writer, the worker it belongs to (or the
/// loop that owns a connection), so nothing on the request path is shared between loops:
/// the atomics are relaxed and sit on their own cache lines. Readers sum them.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cvp {

/// The counters of one worker thread.
struct alignas(64) worker_counters
{
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> requests_in_flight{0};
    std::atomic<std::uint64_t> connections_open{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> tasks{0};
    /// Responses made, and the socket writes that carried them: with pipelining, fewer
    /// writes than responses shows that answers were gathered.
    std::atomic<std::uint64_t> responses{0};
    std::atomic<std::uint64_t> writes{0};
    std::atomic<std::uint64_t> busy_ns{0};

    /// Adds one to a counter owned by the calling thread.
    static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept
    {
        counter.fetch_add(by, std::memory_order_relaxed);
    }
};

/// What a worker is: an event loop or a pool thread, and the CPU it is pinned to.
struct worker_info
{
    int id = 0;
    std::string role;
    std::optional<int> cpu;
};

/// The counters of every worker, indexed by worker id.
class stats_registry
{
public:
    explicit stats_registry(std::vector<worker_info> workers);

    worker_counters& counters(int worker) noexcept { return *counters_[static_cast<std::size_t>(worker)]; }
    std::vector<worker_info> const& workers() const noexcept { return workers_; }
    std::size_t size() const noexcept { return workers_.size(); }

    /// Records that the calling thread ran a piece of handler work for `ns` nanoseconds.
    void record_work(int worker, std::int64_t ns) noexcept;

private:
    std::vector<worker_info> workers_;
    std::vector<std::unique_ptr<worker_counters>> counters_;
};

/// The worker index of the calling thread; 0 until set_current_worker is called.
int current_worker() noexcept;

/// Names the calling thread's worker index; each server thread calls it once at start.
void set_current_worker(int worker) noexcept;

} // namespace cvp
