#pragma once

#include <cstdint>
#include <ctime>

namespace cvp {

/// Nanoseconds on CLOCK_MONOTONIC: comparable across threads of this process, and the
/// clock that `start_ns` / `end_ns` in responses use.
inline std::int64_t monotonic_ns() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// CPU time consumed by the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
inline std::int64_t thread_cpu_ns() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

} // namespace cvp
