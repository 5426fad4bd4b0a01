#pragma once

/// /dashboard: a live page of what each worker does, which polls /stats and
/// /stats/timeline, and /dashboard/chart.js, Debian's Chart.js for its charts
/// (docs/API.md, "/dashboard").

#include "handlers/router.hpp"

namespace cvp {

/// The Debian package that installs Chart.js, named in the 404 when its file is missing.
inline constexpr std::string_view chart_js_package = "libjs-chart.js";

/// Registers /dashboard and /dashboard/chart.js on `r`.
void add_dashboard_routes(router& r);

} // namespace cvp
