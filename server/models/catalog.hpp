#pragma once

/// Each model's name and description, as --help, the start-up line and /stats give them.

#include "server/config.hpp"

#include <string_view>

namespace cvp {

struct model_card
{
    std::string_view name;
    std::string_view description;
};

/// Defined in each model's own file.
model_card single_card() noexcept;
model_card reactors_card() noexcept;
model_card offload_card() noexcept;
model_card pool_card() noexcept;
model_card threads_card() noexcept;

model_card model_card_of(mode m) noexcept;

} // namespace cvp
