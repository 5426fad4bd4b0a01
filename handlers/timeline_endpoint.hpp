#pragma once

/// /stats/timeline: the work intervals recorded with --timeline N, per worker, since a
/// moment on CLOCK_MONOTONIC (docs/API.md, "/stats/timeline").

#include "handlers/router.hpp"

namespace cvp {

/// Registers /stats/timeline on `r`.
void add_timeline_routes(router& r);

} // namespace cvp
