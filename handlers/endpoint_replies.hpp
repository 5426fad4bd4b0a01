#pragma once

/// Replies that several endpoint files share: the body fields that say where work ran,
/// 400 for a bad parameter, 503 for work the model refused.

#include "handlers/context.hpp"
#include "handlers/params.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

namespace cvp {

/// The body fields that say where and when work ran: mode, worker, queue_ns, start_ns,
/// end_ns and cpu_ns.
nlohmann::json work_json(std::string_view mode, work_record const& w);

/// 400 naming the parameter at fault.
reply bad_parameter(param_error const& e);

/// 503 with Retry-After for work the model refused: the pool's queue is full.
reply overloaded();

/// For endpoints without parameters: any parameter is an error.
std::optional<param_error> no_parameters(target const& t);

} // namespace cvp
