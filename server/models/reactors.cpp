/// `reactors`: N io_contexts, each run by its own thread pinned to its own CPU, with
/// nothing shared on the request path: shard-per-core parallelism, as in Seastar and
/// nginx's workers. A connection stays on the loop it was given.

#include "server/models/loop_group.hpp"

namespace cvp {

namespace {

class reactors_model final : public loop_group
{
public:
    reactors_model(model_services const& services, model_card const& card)
        : loop_group(card, services.cfg.accept == accept_strategy::reuseport)
    {
        add_loops(services, threads_or_usable(services.cfg.threads, services.limits),
                  services.cfg.pin.value_or(card.pin_by_default.value_or(false)), nullptr);
    }

    unsigned parallelism() const noexcept override { return static_cast<unsigned>(loop_count()); }
};

} // namespace

std::unique_ptr<execution_model> make_reactors(model_services const& services, model_card const& card)
{
    return std::make_unique<reactors_model>(services, card);
}

} // namespace cvp
