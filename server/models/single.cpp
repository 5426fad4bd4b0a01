/// `single`: one io_context on one thread. Pure concurrency: every connection's waits
/// interleave on one core, and CPU work on it holds up every other connection.

#include "server/models/catalog.hpp"
#include "server/models/loop_group.hpp"

namespace cvp {

model_card single_card() noexcept
{
    return {"single", "one event loop on one thread: concurrency without parallelism"};
}

namespace {

class single_model final : public loop_group
{
public:
    explicit single_model(model_services const& services)
        : loop_group(false)
    {
        add_loops(services, 1, false, nullptr);
    }

    std::string_view name() const noexcept override { return single_card().name; }
    std::string_view description() const noexcept override { return single_card().description; }
    unsigned parallelism() const noexcept override { return 1; }
};

} // namespace

std::unique_ptr<execution_model> make_single(model_services const& services)
{
    return std::make_unique<single_model>(services);
}

} // namespace cvp
