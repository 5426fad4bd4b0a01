#pragma once

/// The /state/* endpoints: a counter under five strategies, transfers under two lock
/// orders, their readings and a reset (docs/API.md, "Shared state").

#include "handlers/router.hpp"

namespace cvp {

/// Registers /state/counter, /state/counter/value, /state/transfer, /state/accounts and
/// /state/reset on `r`.
void add_state_routes(router& r);

} // namespace cvp
