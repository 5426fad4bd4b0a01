#include "server/stats.hpp"

namespace cvp {

namespace {
/// Where counts go from a thread that is no worker (the main thread at exit).
worker_counters unattributed;
thread_local int this_worker = 0;
thread_local worker_counters* these_counters = &unattributed;
} // namespace

std::string_view to_string(worker_kind k) noexcept
{
    switch (k) {
    case worker_kind::loop: return "loop";
    case worker_kind::pool_thread: return "pool-thread";
    case worker_kind::connection_thread: return "connection-thread";
    }
    return "unknown";
}

int current_worker() noexcept
{
    return this_worker;
}

worker_counters& current_counters() noexcept
{
    return *these_counters;
}

void set_current_worker(int worker, worker_counters& counters) noexcept
{
    this_worker = worker;
    these_counters = &counters;
}

void record_work(std::int64_t ns) noexcept
{
    auto& c = current_counters();
    worker_counters::bump(c.tasks);
    worker_counters::bump(c.busy_ns, static_cast<std::uint64_t>(ns > 0 ? ns : 0));
}

int stats_registry::add(worker_kind kind, std::optional<int> cpu, bool owns_connections)
{
    std::lock_guard lock{mutex_};
    auto const id = static_cast<int>(workers_.size());
    workers_.push_back(worker_info{id, kind, cpu, owns_connections});
    counters_.emplace_back();
    return id;
}

worker_counters& stats_registry::counters(int worker)
{
    std::lock_guard lock{mutex_};
    return counters_.at(static_cast<std::size_t>(worker));
}

std::vector<stats_registry::entry> stats_registry::list() const
{
    std::lock_guard lock{mutex_};
    std::vector<entry> out;
    out.reserve(workers_.size());
    for (std::size_t i = 0; i < workers_.size(); ++i)
        out.push_back(entry{workers_[i], &counters_[i]});
    return out;
}

} // namespace cvp
