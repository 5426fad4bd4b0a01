#include "handlers/kernels.hpp"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP_MD_CTX, whose
// copy allocates a provider context; PBKDF2 copies the HMAC state on every iteration, so
// the plain SHA256_CTX, copied by value, is what makes it cheap (see bench_kernels).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>

namespace cvp {

namespace {

/// Lowercase hex of `bytes`.
std::string to_hex(std::vector<unsigned char> const& bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (unsigned char byte : bytes) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

/// SHA-256 state after absorbing the HMAC key padded with `pad` (RFC 2104).
SHA256_CTX keyed_state(unsigned char const (&key)[SHA256_CBLOCK], unsigned char pad)
{
    unsigned char block[SHA256_CBLOCK];
    for (std::size_t i = 0; i < sizeof block; ++i)
        block[i] = key[i] ^ pad;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, block, sizeof block);
    return ctx;
}

/// HMAC-SHA256 of `data` from the prepared inner and outer states; copies them by value.
void hmac(SHA256_CTX const& inner, SHA256_CTX const& outer, unsigned char const* data, std::size_t size,
          unsigned char (&out)[SHA256_DIGEST_LENGTH])
{
    auto ctx = inner;
    SHA256_Update(&ctx, data, size);
    SHA256_Final(out, &ctx);
    ctx = outer;
    SHA256_Update(&ctx, out, SHA256_DIGEST_LENGTH);
    SHA256_Final(out, &ctx);
}

} // namespace

std::string pbkdf2_sha256_hex(std::string_view password, std::string_view salt, std::uint32_t iterations, std::size_t length)
{
    // The HMAC key: the password, hashed first when longer than a block.
    unsigned char key[SHA256_CBLOCK] = {};
    if (password.size() > SHA256_CBLOCK)
        SHA256(reinterpret_cast<unsigned char const*>(password.data()), password.size(), key);
    else
        std::copy(password.begin(), password.end(), key);
    auto const inner = keyed_state(key, 0x36);
    auto const outer = keyed_state(key, 0x5c);

    // Each 32-byte block T_i = U_1 ^ ... ^ U_c, with U_1 = HMAC(salt || INT(i)).
    std::vector<unsigned char> derived(length);
    std::vector<unsigned char> first(salt.begin(), salt.end());
    first.resize(salt.size() + 4);
    for (std::size_t offset = 0, block = 1; offset < length; offset += SHA256_DIGEST_LENGTH, ++block) {
        for (int b = 0; b < 4; ++b)
            first[salt.size() + static_cast<std::size_t>(b)] = static_cast<unsigned char>(block >> (24 - 8 * b));
        unsigned char u[SHA256_DIGEST_LENGTH];
        hmac(inner, outer, first.data(), first.size(), u);
        unsigned char t[SHA256_DIGEST_LENGTH];
        std::copy(std::begin(u), std::end(u), t);
        for (std::uint32_t i = 1; i < iterations; ++i) {
            hmac(inner, outer, u, sizeof u, u);
            for (std::size_t k = 0; k < sizeof t; ++k)
                t[k] ^= u[k];
        }
        std::copy_n(t, std::min<std::size_t>(SHA256_DIGEST_LENGTH, length - offset), derived.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    return to_hex(derived);
}

std::string pbkdf2_sha256_hex_openssl(std::string_view password, std::string_view salt, std::uint32_t iterations, std::size_t length)
{
    std::vector<unsigned char> key(length);
    auto const* salt_bytes = reinterpret_cast<unsigned char const*>(salt.data());
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt_bytes, static_cast<int>(salt.size()),
                          static_cast<int>(iterations), EVP_sha256(), static_cast<int>(key.size()), key.data()) != 1)
        throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
    return to_hex(key);
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
