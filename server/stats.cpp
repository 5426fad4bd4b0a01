#include "server/stats.hpp"

#include "common/clock.hpp"

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
    counters.waits.enter(monotonic_ns());
    set_current_wait_meter(&counters.waits);
}

void leave_current_worker() noexcept
{
    if (auto* meter = current_wait_meter()) {
        meter->leave(monotonic_ns());
        set_current_wait_meter(nullptr);
    }
}

void record_work(std::int64_t ns) noexcept
{
    auto& c = current_counters();
    worker_counters::bump(c.tasks);
    worker_counters::bump(c.busy_ns, static_cast<std::uint64_t>(ns > 0 ? ns : 0));
}

std::uint64_t serving_label::set(std::string_view method, std::string_view target)
{
    std::lock_guard lock{mutex_};
    what_.assign(method);
    what_.push_back(' ');
    what_.append(target);
    return ++token_;
}

void serving_label::clear(std::uint64_t token) noexcept
{
    std::lock_guard lock{mutex_};
    if (token == token_)
        what_.clear();
}

std::string serving_label::get() const
{
    std::lock_guard lock{mutex_};
    return what_;
}

loop_health& stats_registry::add_loop(std::string name, std::vector<int> workers)
{
    std::lock_guard lock{mutex_};
    // The loop's utilization is its workers' threads' time.
    std::vector<wait_meter const*> meters;
    for (auto const id : workers)
        meters.push_back(&counters_.at(static_cast<std::size_t>(id)).waits);
    return loops_.emplace_back(std::move(name), std::move(workers), std::move(meters));
}

std::vector<loop_health*> stats_registry::loops()
{
    std::lock_guard lock{mutex_};
    std::vector<loop_health*> out;
    for (auto& l : loops_)
        out.push_back(&l);
    return out;
}

std::vector<loop_health const*> stats_registry::loops() const
{
    std::lock_guard lock{mutex_};
    std::vector<loop_health const*> out;
    for (auto const& l : loops_)
        out.push_back(&l);
    return out;
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
