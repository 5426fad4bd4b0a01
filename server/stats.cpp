#include "server/stats.hpp"

namespace cvp {

namespace {
thread_local int this_worker = 0;
}

int current_worker() noexcept
{
    return this_worker;
}

void set_current_worker(int worker) noexcept
{
    this_worker = worker;
}

stats_registry::stats_registry(std::vector<worker_info> workers)
    : workers_(std::move(workers))
{
    counters_.reserve(workers_.size());
    for (std::size_t i = 0; i < workers_.size(); ++i)
        counters_.push_back(std::make_unique<worker_counters>());
}

void stats_registry::record_work(int worker, std::int64_t ns) noexcept
{
    auto& c = counters(worker);
    worker_counters::bump(c.tasks);
    worker_counters::bump(c.busy_ns, static_cast<std::uint64_t>(ns > 0 ? ns : 0));
}

} // namespace cvp
