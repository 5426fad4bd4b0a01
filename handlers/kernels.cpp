#include "handlers/kernels.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>

namespace cvp {

std::string pbkdf2_sha256_hex(std::string_view password, std::string_view salt, std::uint32_t iterations, std::size_t length)
{
    // Derive the key.
    std::vector<unsigned char> key(length);
    auto const* salt_bytes = reinterpret_cast<unsigned char const*>(salt.data());
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt_bytes, static_cast<int>(salt.size()),
                          static_cast<int>(iterations), EVP_sha256(), static_cast<int>(key.size()), key.data()) != 1)
        throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");

    // Hex-encode it.
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(key.size() * 2);
    for (unsigned char byte : key) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

namespace {

/// Primes below `limit`, by a plain sieve; used as the base primes of a segment.
std::vector<std::uint32_t> small_primes(std::uint32_t limit)
{
    std::vector<bool> composite(limit, false);
    std::vector<std::uint32_t> primes;
    for (std::uint32_t i = 2; i < limit; ++i) {
        if (composite[i])
            continue;
        primes.push_back(i);
        for (std::uint64_t j = std::uint64_t{i} * i; j < limit; j += i)
            composite[j] = true;
    }
    return primes;
}

} // namespace

std::uint64_t count_primes(std::uint64_t lo, std::uint64_t hi)
{
    lo = std::max<std::uint64_t>(lo, 2);
    if (hi <= lo)
        return 0;

    // Base primes up to sqrt(hi - 1) cross off every composite in the range.
    auto const root = static_cast<std::uint32_t>(std::sqrt(static_cast<double>(hi))) + 2;
    auto const base = small_primes(root);

    // Sieve the range in cache-sized windows.
    constexpr std::uint64_t window = 1 << 16;
    std::vector<unsigned char> composite(window);
    std::uint64_t count = 0;
    for (std::uint64_t begin = lo; begin < hi; begin += window) {
        auto const end = std::min(begin + window, hi);
        std::fill(composite.begin(), composite.end(), 0);
        for (std::uint64_t p : base) {
            if (p * p >= end)
                break;
            // First multiple of p in the window, never p itself.
            auto start = std::max(p * p, (begin + p - 1) / p * p);
            for (auto m = start; m < end; m += p)
                composite[m - begin] = 1;
        }
        count += static_cast<std::uint64_t>(std::count(composite.begin(), composite.begin() + static_cast<std::ptrdiff_t>(end - begin), 0));
    }
    return count;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> split_range(std::uint64_t lo, std::uint64_t hi, std::size_t parts)
{
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    if (parts == 0)
        return ranges;
    auto const size = hi > lo ? hi - lo : 0;
    ranges.reserve(parts);
    for (std::size_t i = 0; i < parts; ++i) {
        auto const a = lo + size * i / parts;
        auto const b = lo + size * (i + 1) / parts;
        ranges.emplace_back(a, b);
    }
    return ranges;
}

void blocking_sleep(std::chrono::milliseconds duration)
{
    std::this_thread::sleep_for(duration);
}

} // namespace cvp
