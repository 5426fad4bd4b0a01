#include "server/recording_runner.hpp"

#include "server/asio.hpp"
#include "server/stats.hpp"

namespace cvp {

namespace {

/// The timeline's name for a kind of work.
timeline_kind timeline_kind_of(work_kind kind) noexcept
{
    return kind == work_kind::cpu ? timeline_kind::cpu : timeline_kind::blocking;
}

} // namespace

void recording_runner::record(timeline_kind kind, int worker, std::int64_t start_ns, std::int64_t end_ns)
{
    timeline_event e;
    e.start_ns = start_ns;
    e.end_ns = end_ns;
    e.connection = connection_;
    e.worker = worker;
    e.kind = kind;
    e.set_target(target_);
    timeline_.record(e);
}

asio::awaitable<std::optional<work_record>> recording_runner::run(work_kind kind, work_fn fn)
{
    // Where the model runs it; work it refused ran nowhere and leaves no interval.
    auto op = inner_.run(kind, std::move(fn));
    auto r = co_await std::move(op);
    if (r)
        record(timeline_kind_of(kind), r->worker, r->start_ns, r->end_ns);
    co_return r;
}

asio::awaitable<std::optional<std::vector<work_record>>> recording_runner::run_all(work_kind kind, std::vector<work_fn> fns)
{
    // Each piece is an interval of its own, on the worker that ran it.
    auto op = inner_.run_all(kind, std::move(fns));
    auto records = co_await std::move(op);
    if (records)
        for (auto const& r : *records)
            record(timeline_kind_of(kind), r.worker, r.start_ns, r.end_ns);
    co_return records;
}

asio::awaitable<wait_record> recording_runner::wait(std::chrono::milliseconds duration)
{
    // The wait holds no thread: it belongs to the worker serving the connection as it began.
    int const waiter = current_worker();
    auto op = inner_.wait(duration);
    auto const w = co_await std::move(op);
    record(timeline_kind::io_wait, waiter, w.start_ns, w.end_ns);
    co_return w;
}

} // namespace cvp
