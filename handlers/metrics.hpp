#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace cvp {

/// Renders the /stats document in the Prometheus text format (version 0.0.4), so that
/// /metrics and /stats always report the same figures.
std::string prometheus_text(nlohmann::json const& stats);

} // namespace cvp
