#include "handlers/params.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <charconv>

namespace cvp {

namespace {

/// Characters that mean themselves wherever they appear in an origin-form target:
/// RFC 3986's unreserved ones, its sub-delims but '+' (which a query decodes as a space),
/// ':', '@', '/' and '?'. Anything else ('%', '+', '#', controls, spaces, bytes past
/// ASCII) takes the general path.
constexpr bool means_itself(char c) noexcept
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
    case '?': return true;
    default: return false;
    }
}

/// Splits an origin-form target made only of such characters: no decoding is needed.
std::optional<target> split_plain_target(std::string_view text)
{
    if (!text.starts_with('/') || !std::all_of(text.begin(), text.end(), means_itself))
        return std::nullopt;
    target t;
    auto const question = text.find('?');
    t.path = std::string{text.substr(0, question)};
    if (question == std::string_view::npos)
        return t;

    // Parameters split on '&', keys from values on the first '='; empty ones are skipped.
    auto query = text.substr(question + 1);
    while (!query.empty()) {
        auto const amp = query.find('&');
        auto const segment = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (segment.empty())
            continue;
        auto const eq = segment.find('=');
        if (eq == std::string_view::npos)
            t.params.emplace_back(std::string{segment}, std::string{});
        else
            t.params.emplace_back(std::string{segment.substr(0, eq)}, std::string{segment.substr(eq + 1)});
    }
    return t;
}

} // namespace

std::optional<target> parse_target(std::string_view text)
{
    if (auto plain = split_plain_target(text))
        return plain;
    return parse_target_with_boost_url(text);
}

std::optional<target> parse_target_with_boost_url(std::string_view text)
{
    // Origin form ("/path?query"), or absolute form ("http://host/path?query"), which
    // RFC 9112 section 3.2.2 says a server must accept; authority and asterisk forms are not served.
    auto parsed = text.starts_with('/') ? boost::urls::parse_origin_form(text) : boost::urls::parse_absolute_uri(text);
    if (!parsed)
        return std::nullopt;
    boost::urls::url_view const& url = *parsed;
    if (!text.starts_with('/') && url.scheme_id() != boost::urls::scheme::http && url.scheme_id() != boost::urls::scheme::https)
        return std::nullopt;

    target t;
    t.path = url.path().empty() ? "/" : std::string{url.path()};
    for (auto const& p : url.params()) {
        if (p.key.empty() && !p.has_value)
            continue; // "?a=1&" leaves an empty trailing segment
        t.params.emplace_back(std::string{p.key}, std::string{p.value});
    }
    return t;
}

param_reader::param_reader(std::vector<std::pair<std::string, std::string>> const& params)
    : params_(params)
{}

void param_reader::fail(std::string_view name, std::string message)
{
    if (!error_)
        error_ = param_error{std::string{name}, std::move(message)};
}

std::optional<std::string_view> param_reader::lookup(std::string_view name)
{
    asked_.push_back(name);
    std::optional<std::string_view> found;
    for (auto const& [key, value] : params_) {
        if (key != name)
            continue;
        if (found) {
            fail(name, "parameter '" + std::string{name} + "' is given more than once");
            return std::nullopt;
        }
        found = value;
    }
    return found;
}

std::uint64_t param_reader::number(std::string_view name, std::uint64_t lo, std::uint64_t hi)
{
    auto value = lookup(name);
    if (!value) {
        fail(name, "missing required parameter '" + std::string{name} + "'");
        return 0;
    }
    return to_number(name, *value, lo, hi);
}

std::uint64_t param_reader::number(std::string_view name, std::uint64_t lo, std::uint64_t hi, std::uint64_t fallback)
{
    auto value = lookup(name);
    return value ? to_number(name, *value, lo, hi) : fallback;
}

std::uint64_t param_reader::to_number(std::string_view name, std::string_view value, std::uint64_t lo, std::uint64_t hi)
{
    auto const expected =
        "parameter '" + std::string{name} + "' must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    std::uint64_t parsed = 0;
    auto const* last = value.data() + value.size();
    auto [end, ec] = std::from_chars(value.data(), last, parsed);
    if (value.empty() || ec == std::errc::invalid_argument || end != last) {
        fail(name, expected + ", got '" + std::string{value} + "'");
        return 0;
    }
    if (ec == std::errc::result_out_of_range || parsed < lo || parsed > hi) {
        fail(name, expected + ", got " + std::string{value});
        return 0;
    }
    return parsed;
}

std::string param_reader::text(std::string_view name, std::size_t max_bytes, std::string_view fallback)
{
    auto value = lookup(name);
    if (!value)
        return std::string{fallback};
    if (value->size() > max_bytes) {
        fail(name, "parameter '" + std::string{name} + "' must be at most " + std::to_string(max_bytes) + " bytes");
        return {};
    }
    return std::string{*value};
}

std::optional<param_error> param_reader::finish()
{
    if (error_)
        return error_;
    for (auto const& [key, value] : params_) {
        if (std::find(asked_.begin(), asked_.end(), key) == asked_.end())
            return param_error{key, "unknown parameter '" + key + "'"};
    }
    return std::nullopt;
}

} // namespace cvp
