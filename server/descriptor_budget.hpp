#pragma once

/// How many connections the process can really hold: --max-connections, or fewer where
/// the open-file limit cannot give each connection its descriptors. Past that cap a
/// connection is refused with 503 like any other over the cap, rather than left in the
/// accept backlog for want of a descriptor.

#include "common/connection_budget.hpp"

#include <cstddef>
#include <cstdint>

namespace cvp {

/// Descriptors kept free beyond those open at start-up: the refusal path itself (a refused
/// connection is still accepted, answered and closed), /stats reading /proc, and a
/// sanitizer runtime's transient pipe (UBSan's vptr check reads memory through one).
inline constexpr std::size_t descriptor_headroom = 16;

/// The lesser of `asked` and the connections of `per_connection` descriptors each that
/// `open_files` leaves room for once `open_now` and the headroom are kept.
connection_budget plan_connection_budget(std::size_t asked, std::size_t per_connection, std::uint64_t open_files, std::size_t open_now);

/// Descriptors the process has open now (from /proc/self/fd).
std::size_t open_descriptors();

/// The soft RLIMIT_NOFILE now in force.
std::uint64_t open_file_limit();

} // namespace cvp
