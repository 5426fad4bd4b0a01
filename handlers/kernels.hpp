#pragma once

/// The CPU kernels behind the /cpu endpoints. Plain functions: no I/O, no threads.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cvp {

/// PBKDF2-HMAC-SHA256 (RFC 8018), `length` bytes, as lowercase hex. The HMAC states are
/// prepared once and copied by value each iteration over OpenSSL's SHA-256.
std::string pbkdf2_sha256_hex(std::string_view password, std::string_view salt, std::uint32_t iterations, std::size_t length);

/// The same through OpenSSL's PKCS5_PBKDF2_HMAC, which copies three EVP_MD_CTX (and
/// allocates for each) on every iteration: the reference the benchmark and tests compare with.
std::string pbkdf2_sha256_hex_openssl(std::string_view password, std::string_view salt, std::uint32_t iterations, std::size_t length);

/// Counts the primes p with lo <= p < hi, with a segmented sieve of Eratosthenes.
std::uint64_t count_primes(std::uint64_t lo, std::uint64_t hi);

/// Splits [lo, hi) into `parts` contiguous half-open ranges of nearly equal size.
std::vector<std::pair<std::uint64_t, std::uint64_t>> split_range(std::uint64_t lo, std::uint64_t hi, std::size_t parts);

/// The anti-pattern: holds the calling thread for `duration` without using the CPU.
void blocking_sleep(std::chrono::milliseconds duration);

} // namespace cvp
