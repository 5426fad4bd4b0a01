#pragma once

#include "handlers/shared_state.hpp"
#include "handlers/stats_snapshot.hpp"

#include <string>

namespace cvp {

/// Renders the /stats snapshot in the Prometheus text format (version 0.0.4), so that
/// /metrics and /stats always report the same figures.
std::string prometheus_text(stats_snapshot const& stats);

/// Renders /state/*'s counters and accounts in the same format: increments asked and
/// values per strategy, transfers per lock order, deadlocks detected.
std::string prometheus_state_text(shared_state const& state);

} // namespace cvp
