#pragma once

/// The connection cap and where it comes from: what the server enforces and what /stats
/// reports of it are the same figures.

#include <cstddef>
#include <cstdint>

namespace cvp {

struct connection_budget
{
    std::size_t cap = 0;            ///< the cap in force: `asked`, or less where the open files allow less
    std::size_t asked = 0;          ///< what --max-connections asked for
    std::uint64_t open_files = 0;   ///< the soft RLIMIT_NOFILE
    std::size_t reserved = 0;       ///< descriptors kept for the process: open at start-up, plus headroom
    std::size_t per_connection = 1; ///< descriptors each connection holds in the model

    /// True when the open-file limit, not --max-connections, sets the cap.
    bool bound_by_open_files() const noexcept { return cap < asked; }
};

} // namespace cvp
