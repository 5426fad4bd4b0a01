/// `reactors`: N io_contexts, each run by its own thread pinned to its own CPU, with
/// nothing shared on the request path: shard-per-core parallelism, as in Seastar and
/// nginx's workers. A connection stays on the loop it was given.

#include "server/models/catalog.hpp"
#include "server/models/loop_group.hpp"

namespace cvp {

model_card reactors_card() noexcept
{
    return {"reactors", "one event loop per CPU, each on its own pinned thread, connections sharded over them"};
}

namespace {

class reactors_model final : public loop_group
{
public:
    explicit reactors_model(model_services const& services)
        : loop_group(services.cfg.accept == accept_strategy::reuseport)
    {
        add_loops(services, threads_or_usable(services.cfg.threads, services.limits), services.cfg.pin.value_or(true), nullptr);
    }

    std::string_view name() const noexcept override { return reactors_card().name; }
    std::string_view description() const noexcept override { return reactors_card().description; }
    unsigned parallelism() const noexcept override { return static_cast<unsigned>(loop_count()); }
};

} // namespace

std::unique_ptr<execution_model> make_reactors(model_services const& services)
{
    return std::make_unique<reactors_model>(services);
}

} // namespace cvp
