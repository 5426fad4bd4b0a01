#pragma once

/// Waiting for one descriptor in poll(), until a deadline: what the blocking transports of
/// the downstream and database pools do between their non-blocking steps.

#include "server/asio.hpp"

#include <chrono>

namespace cvp {

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `deadline` passes (then
/// beast's timeout error). Signals that interrupt the wait do not end it.
error_code poll_ready(int fd, short events, std::chrono::steady_clock::time_point deadline);

/// The errno of the last call, as an error_code.
error_code last_errno();

} // namespace cvp
