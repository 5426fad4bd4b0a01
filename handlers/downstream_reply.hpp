#pragma once

/// How a handler answers a downstream call that failed: the status and the JSON body that
/// name the downstream and the fault (docs/API.md, "Downstream calls").

#include "handlers/context.hpp"
#include "handlers/database.hpp"
#include "handlers/downstream.hpp"

#include <string_view>

namespace cvp {

/// 502, 503 (with Retry-After) or 504 for a call that ended in a fault.
reply downstream_failure(std::string_view origin, downstream_answer const& a);

/// 502 for a call the downstream answered with a status other than 2xx.
reply downstream_status_failure(std::string_view origin, downstream_answer const& a);

/// 503 (the database is down, or every connection busy), 504 (too slow) or 502 (it
/// refused the query) for a database call that ended in a fault.
reply database_failure(db_answer const& a);

} // namespace cvp
