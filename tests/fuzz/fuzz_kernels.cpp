/// Fuzzes the CPU kernels (handlers/kernels.hpp) against references: count_primes and
/// split_range against a plain sieve written here, the way /cpu/primes uses them, and
/// pbkdf2_sha256_hex against the RFC 7914 §11 vectors and the properties of its output.
///
/// Input: read by FuzzedDataProvider, which takes numbers from the end and strings from the
/// front: the last byte picks the kernel, those before it its numbers.
///
/// Checks: count_primes(lo, hi) is the sieve's count for any lo, hi up to 100000 (past
/// the first of its 65536-wide windows); split_range into 1 to 64 parts covers [lo, hi) in
/// contiguous near-equal parts whose counts add up; pbkdf2 gives the RFC vectors, and for
/// any password, salt, 1 to 64 iterations and 1 to 128 bytes, lowercase hex of twice the
/// length, of which a shorter key is a prefix.

#include "fuzz_check.hpp"

#include "handlers/kernels.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

// The largest hi the sieve covers.
constexpr std::uint64_t max_hi = 100'000;
// The endpoints' caps: /cpu/primes?split, /cpu/pbkdf2?length and the password and salt bytes.
constexpr std::size_t max_split = 64;
constexpr std::size_t max_key_length = 128;
constexpr std::size_t max_secret_bytes = 256;
// Iterations are kept small so that each input runs fast.
constexpr std::uint32_t max_iterations = 64;

/// primes_below[n]: the number of primes p < n, for n up to max_hi, by a plain sieve.
std::vector<std::uint64_t> const& primes_below()
{
    static std::vector<std::uint64_t> const table = [] {
        std::vector<bool> composite(max_hi + 1, false);
        std::vector<std::uint64_t> below(max_hi + 1, 0);
        for (std::uint64_t n = 2; n <= max_hi; ++n)
            if (!composite[n])
                for (std::uint64_t m = n * n; m <= max_hi; m += n)
                    composite[m] = true;
        for (std::uint64_t n = 1; n <= max_hi; ++n)
            below[n] = below[n - 1] + (n - 1 >= 2 && !composite[n - 1] ? 1 : 0);
        // The sieve itself, against known values of pi(x).
        FUZZ_CHECK(below[11] == 4 && below[1001] == 168 && below[100'000] == 9592);
        return below;
    }();
    return table;
}

/// The sieve's count of primes p with lo <= p < hi.
std::uint64_t reference_count(std::uint64_t lo, std::uint64_t hi)
{
    auto const& below = primes_below();
    return hi <= lo ? 0 : below[hi] - below[lo];
}

/// True for lowercase hex digits only.
bool is_lower_hex(std::string const& s)
{
    return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// RFC 7914 §11: PBKDF2-HMAC-SHA256 of ("passwd", "salt", 1) and ("Password", "NaCl", 80000), 64 bytes.
constexpr char const* rfc7914_passwd_salt_1 = "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                                              "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783";
constexpr char const* rfc7914_password_nacl_80000 = "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                                                    "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d";

/// The RFC 7914 §11 vectors, checked on the first input.
void check_rfc7914()
{
    FUZZ_CHECK(cvp::pbkdf2_sha256_hex("passwd", "salt", 1, 64) == rfc7914_passwd_salt_1);
    FUZZ_CHECK(cvp::pbkdf2_sha256_hex("Password", "NaCl", 80000, 64) == rfc7914_password_nacl_80000);
}

/// count_primes on one range against the sieve.
void check_range(FuzzedDataProvider& in)
{
    // Any lo and hi up to max_hi, either way round.
    auto const lo = in.ConsumeIntegralInRange<std::uint64_t>(0, max_hi);
    auto const hi = in.ConsumeIntegralInRange<std::uint64_t>(0, max_hi);
    FUZZ_CHECK(cvp::count_primes(lo, hi) == reference_count(lo, hi));
}

/// /cpu/primes: [2, limit] split into parts, each counted, the counts added up.
void check_split(FuzzedDataProvider& in)
{
    // The endpoint's split of [2, limit + 1].
    auto const limit = in.ConsumeIntegralInRange<std::uint64_t>(1, max_hi - 1);
    auto const parts = in.ConsumeIntegralInRange<std::size_t>(1, max_split);
    auto const lo = std::uint64_t{2};
    auto const hi = limit + 1;
    auto const ranges = cvp::split_range(lo, hi, parts);

    // As many parts as asked, contiguous from lo to hi, sizes within one of each other.
    FUZZ_CHECK(ranges.size() == parts);
    FUZZ_CHECK(ranges.front().first == lo);
    FUZZ_CHECK(ranges.back().second == std::max(lo, hi));
    std::uint64_t smallest = UINT64_MAX;
    std::uint64_t largest = 0;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        auto const [a, b] = ranges[i];
        FUZZ_CHECK(a <= b);
        if (i > 0)
            FUZZ_CHECK(a == ranges[i - 1].second);
        smallest = std::min(smallest, b - a);
        largest = std::max(largest, b - a);
        // Each part counted on its own, as one job of the endpoint.
        total += cvp::count_primes(a, b);
    }
    FUZZ_CHECK(largest - smallest <= 1);
    // The parts' counts add up to the count of primes up to limit.
    FUZZ_CHECK(total == reference_count(lo, hi));
}

/// pbkdf2_sha256_hex on fuzzed inputs: the shape of its output.
void check_pbkdf2(FuzzedDataProvider& in)
{
    // Small iterations and lengths within the endpoint's cap; any bytes as password and salt.
    auto const iterations = in.ConsumeIntegralInRange<std::uint32_t>(1, max_iterations);
    auto const length = in.ConsumeIntegralInRange<std::size_t>(1, max_key_length);
    auto const shorter = in.ConsumeIntegralInRange<std::size_t>(1, length);
    auto const password = in.ConsumeRandomLengthString(max_secret_bytes);
    auto const salt = in.ConsumeRandomLengthString(max_secret_bytes);

    // Lowercase hex, two digits a byte.
    auto const key = cvp::pbkdf2_sha256_hex(password, salt, iterations, length);
    FUZZ_CHECK(key.size() == 2 * length);
    FUZZ_CHECK(is_lower_hex(key));
    // A shorter key is a prefix of a longer one (RFC 8018 §5.2 derives block by block).
    FUZZ_CHECK(cvp::pbkdf2_sha256_hex(password, salt, iterations, shorter) == key.substr(0, 2 * shorter));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    // The fixed vectors, once.
    static bool const vectors_checked = (check_rfc7914(), true);
    (void)vectors_checked;

    // The mode byte picks the kernel; the rest are its arguments.
    FuzzedDataProvider in{data, size};
    switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0: check_range(in); break;
    case 1: check_split(in); break;
    default: check_pbkdf2(in); break;
    }
    return 0;
}
