#pragma once

#include "handlers/stats_snapshot.hpp"

#include <string>

namespace cvp {

/// Renders the /stats snapshot in the Prometheus text format (version 0.0.4), so that
/// /metrics and /stats always report the same figures.
std::string prometheus_text(stats_snapshot const& stats);

} // namespace cvp
