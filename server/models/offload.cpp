/// `offload`: one event loop for I/O plus a bounded CPU pool, as Node.js with libuv's
/// pool. CPU and blocking work go to the pool; past its queue they get 503.

#include "server/models/loop_group.hpp"

namespace cvp {

namespace {

class offload_model final : public loop_group
{
public:
    offload_model(model_services const& services, model_card const& card)
        : loop_group(card, false)
        , pool_(std::make_unique<offload_pool>(threads_or_usable(services.cfg.pool_threads, services.limits), services.cfg.pool_queue,
                                               services.cfg.pool_nice))
        , pool_nice_(services.cfg.pool_nice)
    {
        // The loop is worker 0; the pool's threads follow it.
        add_loops(services, 1, false, pool_.get());
        pool_->add_workers(services.stats);
    }

    unsigned parallelism() const noexcept override { return pool_->threads(); }
    std::size_t threads_alive() const noexcept override { return loop_group::threads_alive() + pool_->threads(); }
    std::optional<pool_snapshot> pool() const override { return pool_->read(); }

    model_layout layout() const override
    {
        auto l = loop_group::layout();
        l.pool_threads = pool_->threads();
        l.pool_nice = pool_nice_;
        return l;
    }

    void run() override
    {
        // The pool first, so work can be handed to it from the first request on; it
        // finishes what it runs once the loop is done.
        pool_->start();
        loop_group::run();
        pool_->stop();
    }

private:
    std::unique_ptr<offload_pool> pool_;
    unsigned pool_nice_ = 0;
};

} // namespace

std::unique_ptr<execution_model> make_offload(model_services const& services, model_card const& card)
{
    return std::make_unique<offload_model>(services, card);
}

} // namespace cvp
