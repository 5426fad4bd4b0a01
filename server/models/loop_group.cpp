#include "server/models/loop_group.hpp"

namespace cvp {

void loop_group::add_loops(model_services const& services, unsigned loops, bool pin, work_runner* runner)
{
    // A loop that accepts only onto itself is the one thread doing I/O on its sockets;
    // with round-robin over several, loop 0 registers sockets on the others.
    bool const private_io = loops == 1 || reuseport_;
    for (unsigned i = 0; i < loops; ++i)
        loops_.push_back(std::make_unique<event_loop>(services, runner != nullptr ? *runner : inline_, name(),
                                                      planned_cpu(pin, services.limits, i), private_io));
}

model_layout loop_group::layout() const
{
    model_layout l;
    l.threads = loops_.size();
    l.accept = reuseport_ ? "reuseport" : "round-robin";
    for (auto const& loop : loops_)
        if (auto cpu = loop->planned_cpu())
            l.pinned.push_back(*cpu);
    return l;
}

bool loop_group::accept_one(tcp::acceptor& acceptor, std::size_t i, error_code& ec)
{
    // Straight onto the loop that will serve it; the turn moves only with a connection.
    auto& target = reuseport_ ? *loops_[i] : *loops_[next_loop_ % loops_.size()];
    auto socket = acceptor.accept(target.context().get_executor(), ec);
    if (ec)
        return false;
    if (!reuseport_)
        ++next_loop_;
    admit_session(std::move(socket), target.env());
    return true;
}

void loop_group::run()
{
    // One thread per loop, then wait for all of them.
    for (auto& loop : loops_)
        loop->start("cvp-loop-" + std::to_string(loop->worker()));
    for (auto& loop : loops_)
        loop->join();
}

void loop_group::stop() noexcept
{
    for (auto& loop : loops_)
        loop->stop();
}

void loop_group::begin_drain(std::chrono::steady_clock::time_point grace_deadline)
{
    for (auto& loop : loops_)
        loop->sessions().begin_drain(grace_deadline);
}

void loop_group::close_all()
{
    for (auto& loop : loops_)
        loop->sessions().close_all();
}

namespace {

/// The snapshot of each loop's pool that `pool_of` names, one per loop that has one.
template <typename Loops, typename Pool>
std::vector<downstream_pool_snapshot> each_loops(Loops const& loops, Pool const* (event_loop::*pool_of)() const noexcept)
{
    std::vector<downstream_pool_snapshot> pools;
    for (auto const& loop : loops)
        if (auto const* p = ((*loop).*pool_of)())
            pools.push_back(p->snapshot());
    return pools;
}

} // namespace

std::vector<downstream_pool_snapshot> loop_group::downstream_pools() const
{
    return each_loops(loops_, &event_loop::downstream);
}

std::vector<downstream_pool_snapshot> loop_group::database_pools() const
{
    return each_loops(loops_, &event_loop::database);
}

} // namespace cvp
