#include "handlers/kernels.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using cvp::count_primes;
using cvp::pbkdf2_sha256_hex;
using cvp::split_range;

//------------------------------------------------------------------------------
// pbkdf2_sha256_hex
//
// RFC 7914 section 11 ("Test Vectors for PBKDF2 with HMAC-SHA-256"), checked against
// Python's hashlib.pbkdf2_hmac('sha256', ...), which gives the same bytes.

constexpr char const* rfc7914_passwd_salt_1 = "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                                              "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783";

constexpr char const* rfc7914_password_nacl_80000 = "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                                                    "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d";

TEST(Pbkdf2, Rfc7914OneIteration)
{
    EXPECT_EQ(pbkdf2_sha256_hex("passwd", "salt", 1, 64), rfc7914_passwd_salt_1);
}

TEST(Pbkdf2, Rfc7914EightyThousandIterations)
{
    EXPECT_EQ(pbkdf2_sha256_hex("Password", "NaCl", 80000, 64), rfc7914_password_nacl_80000);
}

TEST(Pbkdf2, OutputIsLowercaseHexOfTheRequestedLength)
{
    for (std::size_t length : {1u, 2u, 31u, 32u, 33u, 64u, 100u, 128u}) {
        auto const hex = pbkdf2_sha256_hex("password", "salt", 1, length);
        EXPECT_EQ(hex.size(), 2 * length) << "length " << length;
        EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
    }
}

TEST(Pbkdf2, OneByte)
{
    // hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 1, 1).hex()
    EXPECT_EQ(pbkdf2_sha256_hex("password", "salt", 1, 1), "12");
}

TEST(Pbkdf2, OneHundredTwentyEightBytesSpanFourBlocks)
{
    // hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 1, 128).hex()
    EXPECT_EQ(pbkdf2_sha256_hex("password", "salt", 1, 128), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
                                                             "4dbf3a2f3dad3377264bb7b8e8330d4efc7451418617dabef683735361cdc18c"
                                                             "22cd7fe60fa40e91c65849e1f60c0d8b62a7b2dbd0d3dfd75fb8498a5c2131ab"
                                                             "02b66de5e7dad0c54f172ee4b25fc800dea31e40a5d0e9547b365d9118b5fd4b");
}

TEST(Pbkdf2, ShorterKeyIsAPrefixOfALongerOne)
{
    auto const long_key = pbkdf2_sha256_hex("passwd", "salt", 1, 64);
    EXPECT_EQ(pbkdf2_sha256_hex("passwd", "salt", 1, 1), long_key.substr(0, 2));
    EXPECT_EQ(pbkdf2_sha256_hex("passwd", "salt", 1, 32), long_key.substr(0, 64));
    EXPECT_EQ(pbkdf2_sha256_hex("passwd", "salt", 1, 33), long_key.substr(0, 66));
}

TEST(Pbkdf2, TwoIterations)
{
    // hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 2, 32).hex()
    EXPECT_EQ(pbkdf2_sha256_hex("password", "salt", 2, 32), "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
}

TEST(Pbkdf2, EveryInputChangesTheKey)
{
    auto const base = pbkdf2_sha256_hex("password", "salt", 3, 32);
    EXPECT_NE(pbkdf2_sha256_hex("passwore", "salt", 3, 32), base);
    EXPECT_NE(pbkdf2_sha256_hex("password", "salu", 3, 32), base);
    EXPECT_NE(pbkdf2_sha256_hex("password", "salt", 4, 32), base);
    EXPECT_EQ(pbkdf2_sha256_hex("password", "salt", 3, 32), base) << "deterministic";
}

TEST(Pbkdf2, EmptyPasswordAndSaltAreAccepted)
{
    // hashlib.pbkdf2_hmac('sha256', b'', b'', 1, 32).hex()
    EXPECT_EQ(pbkdf2_sha256_hex("", "", 1, 32), "f7ce0b653d2d72a4108cf5abe912ffdd777616dbbb27a70e8204f3ae2d0f6fad");
}

//------------------------------------------------------------------------------
// count_primes

/// Counts the primes in [lo, hi) by trial division.
std::uint64_t brute_force_primes(std::uint64_t lo, std::uint64_t hi)
{
    std::uint64_t count = 0;
    for (std::uint64_t n = lo; n < hi; ++n) {
        if (n < 2)
            continue;
        bool prime = true;
        for (std::uint64_t d = 2; d * d <= n; ++d) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        count += prime ? 1 : 0;
    }
    return count;
}

TEST(Pbkdf2, MatchesOpensslsPkcs5ForKeysSaltsIterationsAndLengthsAroundTheBlockSizes)
{
    // Passwords around the 64-byte HMAC block (longer ones are hashed first), salts empty
    // to long, and lengths around the 32-byte output block.
    for (auto const& password : {std::string{}, std::string{"password"}, std::string(64, 'p'), std::string(65, 'q'), std::string(200, 'z')})
        for (auto const& salt : {std::string{}, std::string{"salt"}, std::string(100, 's')})
            for (std::uint32_t iterations : {1u, 2u, 3u, 100u})
                for (std::size_t length : {1u, 31u, 32u, 33u, 64u, 100u})
                    EXPECT_EQ(cvp::pbkdf2_sha256_hex(password, salt, iterations, length),
                              cvp::pbkdf2_sha256_hex_openssl(password, salt, iterations, length))
                        << password.size() << " " << salt.size() << " " << iterations << " " << length;
}

TEST(CountPrimes, KnownValuesOfPi)
{
    EXPECT_EQ(count_primes(2, 11), 4u);            // pi(10)
    EXPECT_EQ(count_primes(0, 101), 25u);          // pi(100)
    EXPECT_EQ(count_primes(2, 1001), 168u);        // pi(1000)
    EXPECT_EQ(count_primes(2, 1'000'001), 78498u); // pi(10^6)
}

TEST(CountPrimes, SmallRanges)
{
    EXPECT_EQ(count_primes(0, 2), 0u);
    EXPECT_EQ(count_primes(0, 0), 0u);
    EXPECT_EQ(count_primes(1, 2), 0u);
    EXPECT_EQ(count_primes(2, 3), 1u);
    EXPECT_EQ(count_primes(2, 2), 0u);
    EXPECT_EQ(count_primes(3, 4), 1u);
    EXPECT_EQ(count_primes(4, 5), 0u);
    EXPECT_EQ(count_primes(97, 98), 1u);
    EXPECT_EQ(count_primes(91, 92), 0u); // 7 * 13
    EXPECT_EQ(count_primes(25, 26), 0u); // a prime square
    EXPECT_EQ(count_primes(0, 3), 1u);
}

TEST(CountPrimes, EmptyOrReversedRangeIsZero)
{
    EXPECT_EQ(count_primes(100, 100), 0u);
    EXPECT_EQ(count_primes(100, 50), 0u);
}

TEST(CountPrimes, UpperBoundIsExclusive)
{
    EXPECT_EQ(count_primes(2, 97), 24u);
    EXPECT_EQ(count_primes(2, 98), 25u);
    EXPECT_EQ(count_primes(97, 97), 0u);
}

TEST(CountPrimes, MatchesBruteForceOnEveryShortRangeBelow130)
{
    for (std::uint64_t lo = 0; lo < 130; ++lo)
        for (std::uint64_t hi = lo; hi < lo + 20; ++hi)
            ASSERT_EQ(count_primes(lo, hi), brute_force_primes(lo, hi)) << "[" << lo << ", " << hi << ")";
}

TEST(CountPrimes, RangeCrossingAWindowBoundary)
{
    // The sieve works in windows of 65536 numbers; this range starts below 2^16 and ends above.
    EXPECT_EQ(count_primes(65530, 65560), brute_force_primes(65530, 65560));
    EXPECT_EQ(count_primes(65530, 65560), 5u); // 65537, 65539, 65543, 65551, 65557
}

TEST(CountPrimes, RangeSpanningSeveralWindows)
{
    // Windows start at lo, so these cross window edges at lo + 65536 * k.
    for (std::uint64_t lo : {std::uint64_t{2}, std::uint64_t{1000}, std::uint64_t{65535}, std::uint64_t{65536}, std::uint64_t{65537}}) {
        auto const hi = lo + 3 * 65536 + 17;
        EXPECT_EQ(count_primes(lo, hi), brute_force_primes(lo, hi)) << "[" << lo << ", " << hi << ")";
    }
}

TEST(CountPrimes, WindowEdgeOnAPrime)
{
    // 65537 is prime; ranges ending just before and just after it.
    EXPECT_EQ(count_primes(65536, 65537), 0u);
    EXPECT_EQ(count_primes(65536, 65538), 1u);
    EXPECT_EQ(count_primes(65537, 65538), 1u);
    EXPECT_EQ(count_primes(2, 2 + 65536), brute_force_primes(2, 2 + 65536));
    EXPECT_EQ(count_primes(2, 2 + 65536 + 1), brute_force_primes(2, 2 + 65536 + 1));
}

TEST(CountPrimes, RangesWhereTheBasePrimesMatter)
{
    // Squares of primes and products of two large primes, above the first window.
    for (std::uint64_t n : {std::uint64_t{65521} * 2, std::uint64_t{251} * 251, std::uint64_t{257} * 257, std::uint64_t{509} * 521,
                            std::uint64_t{997} * 997, std::uint64_t{1009} * 1013}) {
        EXPECT_EQ(count_primes(n, n + 1), 0u) << n;
        EXPECT_EQ(count_primes(n - 50, n + 50), brute_force_primes(n - 50, n + 50)) << n;
    }
}

TEST(CountPrimes, LargeRangeAwayFromZero)
{
    // pi(2,000,000) - pi(1,000,000) = 148933 - 78498.
    EXPECT_EQ(count_primes(1'000'001, 2'000'001), 148933u - 78498u);
    EXPECT_EQ(count_primes(99'999'900, 100'000'000), brute_force_primes(99'999'900, 100'000'000));
}

TEST(CountPrimes, SplitChunksSumToTheWhole)
{
    for (std::size_t k : {1u, 2u, 3u, 4u, 7u, 16u, 64u}) {
        std::uint64_t total = 0;
        for (auto const& [lo, hi] : split_range(2, 1'000'001, k))
            total += count_primes(lo, hi);
        EXPECT_EQ(total, 78498u) << "K = " << k;
    }
}

TEST(CountPrimes, SplitChunksSumToBruteForceOnAnOddRange)
{
    auto const expected = brute_force_primes(60'000, 200'003);
    for (std::size_t k : {1u, 2u, 5u, 13u, 64u}) {
        std::uint64_t total = 0;
        for (auto const& [lo, hi] : split_range(60'000, 200'003, k))
            total += count_primes(lo, hi);
        EXPECT_EQ(total, expected) << "K = " << k;
    }
}

//------------------------------------------------------------------------------
// split_range

/// Checks the invariants of a split of [lo, hi) into k parts.
void expect_tiles(std::uint64_t lo, std::uint64_t hi, std::size_t k)
{
    SCOPED_TRACE(testing::Message() << "[" << lo << ", " << hi << ") into " << k);
    auto const parts = split_range(lo, hi, k);
    ASSERT_EQ(parts.size(), k);
    // Covers the range exactly: starts at lo, ends at hi, no gaps or overlaps.
    EXPECT_EQ(parts.front().first, lo);
    EXPECT_EQ(parts.back().second, hi);
    std::uint64_t smallest = UINT64_MAX;
    std::uint64_t largest = 0;
    std::uint64_t covered = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        auto const [a, b] = parts[i];
        EXPECT_LE(a, b) << "part " << i;
        if (i > 0) {
            EXPECT_EQ(a, parts[i - 1].second) << "part " << i << " is not contiguous";
        }
        smallest = std::min(smallest, b - a);
        largest = std::max(largest, b - a);
        covered += b - a;
    }
    EXPECT_EQ(covered, hi - lo);
    // Nearly equal sizes.
    EXPECT_LE(largest - smallest, 1u);
}

TEST(SplitRange, TilesTheRange)
{
    expect_tiles(2, 1'000'001, 1);
    expect_tiles(2, 1'000'001, 4);
    expect_tiles(2, 1'000'001, 7);
    expect_tiles(2, 1'000'001, 64);
    expect_tiles(0, 10, 3);
    expect_tiles(5, 6, 1);
    expect_tiles(2, 100'000'001, 64);
}

TEST(SplitRange, ExactValuesForAnEvenSplit)
{
    using parts = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
    EXPECT_EQ(split_range(0, 12, 4), (parts{{0, 3}, {3, 6}, {6, 9}, {9, 12}}));
    EXPECT_EQ(split_range(10, 20, 1), (parts{{10, 20}}));
}

TEST(SplitRange, UnevenSplit)
{
    auto const parts = split_range(0, 10, 3);
    ASSERT_EQ(parts.size(), 3u);
    std::uint64_t total = 0;
    for (auto const& [a, b] : parts) {
        EXPECT_TRUE(b - a == 3 || b - a == 4) << a << ".." << b;
        total += b - a;
    }
    EXPECT_EQ(total, 10u);
}

TEST(SplitRange, MorePartsThanNumbers)
{
    expect_tiles(2, 5, 8);
    auto const parts = split_range(2, 5, 8);
    std::size_t non_empty = 0;
    for (auto const& [a, b] : parts)
        non_empty += b > a ? 1 : 0;
    EXPECT_EQ(non_empty, 3u);
}

TEST(SplitRange, EmptyRange)
{
    expect_tiles(2, 2, 4);
    for (auto const& [a, b] : split_range(7, 7, 3)) {
        EXPECT_EQ(a, 7u);
        EXPECT_EQ(b, 7u);
    }
}

TEST(SplitRange, ZeroPartsIsEmpty)
{
    EXPECT_TRUE(split_range(0, 100, 0).empty());
}

} // namespace
