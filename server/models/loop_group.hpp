#pragma once

/// Models made of event loops that each run on one thread of their own: `single` (one
/// loop), `reactors` (one per CPU) and `offload` (one, with a CPU pool beside it).
/// Accepted connections go to the loops in turn, or with reuseport to the loop whose
/// acceptor took them.

#include "server/models/event_loop.hpp"
#include "server/runners.hpp"

#include <memory>
#include <vector>

namespace cvp {

class loop_group : public execution_model
{
public:
    std::size_t threads_alive() const noexcept override { return loops_.size(); }
    model_layout layout() const override;
    std::vector<downstream_pool_snapshot> downstream_pools() const override;
    std::vector<downstream_pool_snapshot> database_pools() const override;

    std::size_t acceptor_count() const noexcept override { return reuseport_ ? loops_.size() : 1; }
    asio::any_io_executor acceptor_executor(std::size_t i) override { return loops_[i]->context().get_executor(); }
    bool reuseport() const noexcept override { return reuseport_; }
    bool accept_one(tcp::acceptor& acceptor, std::size_t i, error_code& ec) override;

    void run() override;
    void stop() noexcept override;
    void begin_drain(std::chrono::steady_clock::time_point grace_deadline) override;
    void close_all() override;

protected:
    loop_group(model_card const& card, bool reuseport)
        : execution_model(card)
        , reuseport_(reuseport)
    {}

    /// Adds `loops` loops whose handlers run work on `runner` (inline on the loop when
    /// null), each pinned to a CPU of the allowed set when `pin`.
    void add_loops(model_services const& services, unsigned loops, bool pin, work_runner* runner);

    std::size_t loop_count() const noexcept { return loops_.size(); }

private:
    inline_runner inline_;
    std::vector<std::unique_ptr<event_loop>> loops_;
    bool reuseport_;
    /// Round-robin position; only the thread of loop 0, which owns the one acceptor, moves it.
    std::size_t next_loop_ = 0;
};

} // namespace cvp
