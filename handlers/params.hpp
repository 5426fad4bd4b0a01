#pragma once

/// Query-string parameters: decoding, validation and caps.
///
/// A `param_reader` is asked for each parameter an endpoint knows, with its bounds. It
/// keeps the first problem it meets; `finish()` then also rejects parameters the endpoint
/// did not ask for, so a typo such as `?iteration=5` is an error rather than a default.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cvp {

/// A parameter that failed validation.
struct param_error
{
    /// The parameter at fault; empty when the query string itself is malformed.
    std::string parameter;
    std::string message;
};

/// The decoded path and query of a request target ("/a/b?x=1", or "http://host/a/b?x=1").
struct target
{
    std::string path;
    std::vector<std::pair<std::string, std::string>> params;
};

/// Splits and percent-decodes a request target. Empty on a malformed target.
std::optional<target> parse_target(std::string_view text);

/// The same through Boost.URL alone. parse_target takes a plain origin-form target (no
/// percent-escape, no '+', nothing but the characters RFC 3986 allows unescaped) apart by
/// hand and gives anything else to this: under /plaintext, Boost.URL's grammar was 3.5% of
/// the server's CPU. The tests and the fuzzer hold the two to the same answers.
std::optional<target> parse_target_with_boost_url(std::string_view text);

/// Reads typed, bounded parameters, remembering the first error.
class param_reader
{
public:
    explicit param_reader(std::vector<std::pair<std::string, std::string>> const& params);

    /// A required unsigned integer within [lo, hi]. Returns 0 after an error.
    std::uint64_t number(std::string_view name, std::uint64_t lo, std::uint64_t hi);

    /// An optional unsigned integer within [lo, hi], `fallback` when absent.
    std::uint64_t number(std::string_view name, std::uint64_t lo, std::uint64_t hi, std::uint64_t fallback);

    /// An optional string of at most `max_bytes` bytes, `fallback` when absent.
    std::string text(std::string_view name, std::size_t max_bytes, std::string_view fallback);

    /// The first error met, or one for a parameter nobody asked for. Call once, last.
    std::optional<param_error> finish();

private:
    /// The single value of `name`; records an error if it appears more than once.
    std::optional<std::string_view> lookup(std::string_view name);
    /// Parses `value` as an integer within [lo, hi]; records an error otherwise.
    std::uint64_t to_number(std::string_view name, std::string_view value, std::uint64_t lo, std::uint64_t hi);
    void fail(std::string_view name, std::string message);

    std::vector<std::pair<std::string, std::string>> const& params_;
    std::vector<std::string_view> asked_;
    std::optional<param_error> error_;
};

} // namespace cvp
