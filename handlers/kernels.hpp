#pragma once

/// The CPU kernels behind the /cpu endpoints. Plain functions: no I/O, no threads.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cvp {

/// PBKDF2-HMAC-SHA256 (RFC 8018) through OpenSSL, `length` bytes, as lowercase hex.
std::string pbkdf2_sha256_hex(std::string_view password, std::string_view salt, std::uint32_t iterations, std::size_t length);

/// Counts the primes p with lo <= p < hi, with a segmented sieve of Eratosthenes.
std::uint64_t count_primes(std::uint64_t lo, std::uint64_t hi);

/// Splits [lo, hi) into `parts` contiguous half-open ranges of nearly equal size.
std::vector<std::pair<std::uint64_t, std::uint64_t>> split_range(std::uint64_t lo, std::uint64_t hi, std::size_t parts);

/// The anti-pattern: holds the calling thread for `duration` without using the CPU.
void blocking_sleep(std::chrono::milliseconds duration);

} // namespace cvp
