/// `single`: one io_context on one thread. Pure concurrency: every connection's waits
/// interleave on one core, and CPU work on it holds up every other connection.

#include "server/models/loop_group.hpp"

namespace cvp {

namespace {

class single_model final : public loop_group
{
public:
    single_model(model_services const& services, model_card const& card)
        : loop_group(card, false)
    {
        add_loops(services, 1, false, nullptr);
    }

    unsigned parallelism() const noexcept override { return 1; }
};

} // namespace

std::unique_ptr<execution_model> make_single(model_services const& services, model_card const& card)
{
    return std::make_unique<single_model>(services, card);
}

} // namespace cvp
