#include "server/models/catalog.hpp"

#include "server/models/model.hpp"

namespace cvp {

std::unique_ptr<execution_model> make_single(model_services const& services);
std::unique_ptr<execution_model> make_reactors(model_services const& services);
std::unique_ptr<execution_model> make_offload(model_services const& services);
std::unique_ptr<execution_model> make_pool(model_services const& services);
std::unique_ptr<execution_model> make_threads(model_services const& services);

model_card model_card_of(mode m) noexcept
{
    switch (m) {
    case mode::single: return single_card();
    case mode::reactors: return reactors_card();
    case mode::offload: return offload_card();
    case mode::pool: return pool_card();
    case mode::threads: return threads_card();
    }
    return single_card();
}

std::unique_ptr<execution_model> make_model(model_services services)
{
    switch (services.cfg.mode) {
    case mode::single: return make_single(services);
    case mode::reactors: return make_reactors(services);
    case mode::offload: return make_offload(services);
    case mode::pool: return make_pool(services);
    case mode::threads: return make_threads(services);
    }
    return make_single(services);
}

} // namespace cvp
