/// Fuzzes the request-target and query parser (handlers/params.hpp) against a reference
/// written here: parse_target on any bytes, then param_reader asked for parameters with
/// fuzzed names, kinds and bounds.
///
/// Input: the target, optionally followed by '\n' and the asks, three bytes each (which
/// name and kind, and two bytes that pick the bounds). Without asks, every parameter is
/// asked for as an optional number.
///
/// Checks: nothing crashes; parse_target and parse_target_with_boost_url agree; an origin-form target decodes to the path and parameters
/// the reference decoder finds, and any other accepted target is http or https; every number read back is the reference's, so within the
/// bounds asked for; texts respect their caps; finish() reports the first error the
/// reference met, or the first parameter nobody asked for.

#include "fuzz_check.hpp"

#include "handlers/params.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using param_list = std::vector<std::pair<std::string, std::string>>;

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

/// Bounds and fallbacks the asks pick from: the endpoints' caps and the edges of uint64.
constexpr std::array<std::uint64_t, 16> interesting{
    0, 1, 2, 9, 10, 32, 64, 128, 256, 10'000, 60'000, 1'000'000, 100'000'000, std::uint64_t{1} << 32, u64_max - 1, u64_max};

/// Names the asks pick from besides the target's own keys: the endpoints' parameters.
constexpr std::array<std::string_view, 8> known_names{"iterations", "length", "password", "salt", "limit", "split", "ms", ""};

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// Percent-decodes `s`, and '+' to a space when `plus_is_space`; empty on a bad escape.
std::optional<std::string> decode(std::string_view s, bool plus_is_space)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size())
                return std::nullopt;
            auto const hi = hex_digit(s[i + 1]);
            auto const lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

/// True for "http" or "https" in any case: the only absolute forms parse_target serves.
bool is_http_scheme(std::string_view scheme)
{
    std::string lower;
    for (char c : scheme)
        lower += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    return lower == "http" || lower == "https";
}

/// The reference decoding of an origin-form target that parse_target accepted.
void check_origin_form(std::string_view text, cvp::target const& t)
{
    // The path is everything before '?', percent-decoded; '+' is an ordinary character there.
    auto const q = text.find('?');
    auto const path = decode(text.substr(0, q), false);
    FUZZ_CHECK(path.has_value());
    FUZZ_CHECK(t.path == *path);

    // The query splits at '&', each piece at its first '='; empty pieces are skipped.
    param_list expected;
    if (q != std::string_view::npos) {
        auto query = text.substr(q + 1);
        for (;;) {
            auto const amp = query.find('&');
            auto const piece = query.substr(0, amp);
            if (!piece.empty()) {
                auto const eq = piece.find('=');
                auto const key = decode(piece.substr(0, eq), true);
                auto const value = eq == std::string_view::npos ? std::optional<std::string>{""} : decode(piece.substr(eq + 1), true);
                FUZZ_CHECK(key.has_value() && value.has_value());
                expected.emplace_back(*key, *value);
            }
            if (amp == std::string_view::npos)
                break;
            query.remove_prefix(amp + 1);
        }
    }
    FUZZ_CHECK(t.params == expected);
}

/// The reference param_reader: what each ask should return, and the first error.
struct reference_reader
{
    param_list const& params;
    std::vector<std::string_view> asked;
    std::optional<std::string> error; ///< the parameter of the first error

    void fail(std::string_view name)
    {
        if (!error)
            error = std::string{name};
    }

    /// The values given for `name`, recording the ask.
    std::vector<std::string_view> values(std::string_view name)
    {
        asked.push_back(name);
        std::vector<std::string_view> found;
        for (auto const& [key, value] : params)
            if (key == name)
                found.push_back(value);
        return found;
    }

    /// A decimal integer within [lo, hi], or empty.
    static std::optional<std::uint64_t> to_number(std::string_view s, std::uint64_t lo, std::uint64_t hi)
    {
        if (s.empty())
            return std::nullopt;
        std::uint64_t n = 0;
        for (char c : s) {
            if (c < '0' || c > '9')
                return std::nullopt;
            auto const digit = static_cast<std::uint64_t>(c - '0');
            if (n > (u64_max - digit) / 10)
                return std::nullopt;
            n = n * 10 + digit;
        }
        if (n < lo || n > hi)
            return std::nullopt;
        return n;
    }

    std::uint64_t number(std::string_view name, std::uint64_t lo, std::uint64_t hi, std::optional<std::uint64_t> fallback)
    {
        auto const found = values(name);
        if (found.size() != 1) {
            // Missing (an error only when required) or given twice (always an error).
            if (found.size() > 1 || !fallback)
                fail(name);
            return fallback.value_or(0);
        }
        auto const n = to_number(found.front(), lo, hi);
        if (!n)
            fail(name);
        return n.value_or(0);
    }

    std::string text(std::string_view name, std::size_t max_bytes, std::string_view fallback)
    {
        auto const found = values(name);
        if (found.size() != 1) {
            if (found.size() > 1)
                fail(name);
            return std::string{fallback};
        }
        if (found.front().size() > max_bytes) {
            fail(name);
            return {};
        }
        return std::string{found.front()};
    }
};

/// Asks `reader` and the reference the same questions, then compares finish().
void check_reader(param_list const& params, std::string_view asks)
{
    cvp::param_reader reader{params};
    reference_reader ref{params, {}, {}};

    // Without asks, each parameter is asked for as an optional number from 0 to 1000000.
    if (asks.empty()) {
        for (auto const& [key, value] : params) {
            auto const n = reader.number(key, 0, 1'000'000, 7);
            FUZZ_CHECK(n == ref.number(key, 0, 1'000'000, 7));
            FUZZ_CHECK(n <= 1'000'000);
        }
    }

    // Each ask: a name (one of the target's keys, or an endpoint's), a kind, and bounds.
    for (std::size_t i = 0; i + 3 <= asks.size(); i += 3) {
        auto const pick = static_cast<unsigned char>(asks[i]);
        auto const a = static_cast<unsigned char>(asks[i + 1]);
        auto const b = static_cast<unsigned char>(asks[i + 2]);
        std::string_view const name =
            (pick & 0x1f) < params.size() ? std::string_view{params[pick & 0x1f].first} : known_names[(pick & 0x1f) % known_names.size()];
        auto const lo = interesting[a % interesting.size()];
        auto const hi = interesting[b % interesting.size()];
        auto const fallback = interesting[(a >> 4) ^ (b >> 4)];
        switch ((pick >> 5) % 3) {
        case 0: {
            // A required number: the reference's value, so 0 or within [lo, hi].
            auto const n = reader.number(name, lo, hi);
            FUZZ_CHECK(n == ref.number(name, lo, hi, std::nullopt));
            FUZZ_CHECK(n == 0 || (lo <= n && n <= hi));
            break;
        }
        case 1: {
            // An optional number: the reference's value, so 0, the fallback, or within [lo, hi].
            auto const n = reader.number(name, lo, hi, fallback);
            FUZZ_CHECK(n == ref.number(name, lo, hi, fallback));
            FUZZ_CHECK(n == 0 || n == fallback || (lo <= n && n <= hi));
            break;
        }
        default: {
            // A text of at most `a` bytes: the reference's, so within the cap or the fallback.
            auto const s = reader.text(name, a, "fallback");
            FUZZ_CHECK(s == ref.text(name, a, "fallback"));
            FUZZ_CHECK(s.size() <= a || s == "fallback");
            break;
        }
        }
    }

    // finish(): the first error, else the first parameter nobody asked for, else nothing.
    auto const err = reader.finish();
    std::optional<std::string> expected = ref.error;
    if (!expected) {
        for (auto const& [key, value] : params) {
            if (std::find(ref.asked.begin(), ref.asked.end(), key) == ref.asked.end()) {
                expected = key;
                break;
            }
        }
    }
    FUZZ_CHECK(err.has_value() == expected.has_value());
    if (err) {
        FUZZ_CHECK(err->parameter == *expected);
        FUZZ_CHECK(!err->message.empty());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    // The target, and the asks after the first newline.
    std::string_view const input{reinterpret_cast<char const*>(data), size};
    auto const newline = input.find('\n');
    auto const text = input.substr(0, newline);
    auto const asks = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

    // Parse the target; a malformed one is simply refused. The hand-written split of
    // plain targets must agree with Boost.URL on every input.
    auto const t = cvp::parse_target(text);
    auto const general = cvp::parse_target_with_boost_url(text);
    FUZZ_CHECK(t.has_value() == general.has_value());
    if (t && general)
        FUZZ_CHECK(t->path == general->path && t->params == general->params);
    if (!t)
        return 0;

    // A parsed target has a path; an origin-form one decodes as the reference does, any other is http(s).
    FUZZ_CHECK(!t->path.empty());
    if (text.starts_with('/'))
        check_origin_form(text, *t);
    else
        FUZZ_CHECK(is_http_scheme(text.substr(0, text.find(':'))));

    // Read parameters the way an endpoint does, against the reference.
    check_reader(t->params, asks);
    return 0;
}
