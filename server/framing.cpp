#include "server/framing.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>

#include <string>
#include <vector>

namespace cvp {

namespace {

/// Answer and close: the request cannot be framed, or breaks a MUST.
framing refuse(http::status status, std::string_view message)
{
    framing f;
    f.keep_alive = false;
    f.error = error_reply(status, message);
    f.error->close = true;
    return f;
}

/// Optional whitespace of RFC 9110 §5.6.3.
std::string_view trim_ows(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// The transfer codings of every Transfer-Encoding field, in order; empty elements of the
/// list are skipped as RFC 9110 §5.6.1 allows.
std::vector<std::string_view> transfer_codings(request const& req)
{
    std::vector<std::string_view> codings;
    auto [first, last] = req.equal_range(http::field::transfer_encoding);
    for (auto it = first; it != last; ++it) {
        std::string_view list = it->value();
        while (!list.empty()) {
            auto const comma = list.find(',');
            auto const item = trim_ows(list.substr(0, comma));
            if (!item.empty())
                codings.push_back(item);
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        }
    }
    return codings;
}

/// RFC 9112 §6: chunked must be the final coding and appear once; any other coding is one
/// this server does not implement. Returns the refusal, or nothing when the codings are fine.
std::optional<framing> check_transfer_codings(request const& req)
{
    auto const codings = transfer_codings(req);
    if (req.version() == 10)
        return refuse(http::status::bad_request, "malformed request: Transfer-Encoding in an HTTP/1.0 request");
    if (codings.empty() || !beast::iequals(codings.back(), "chunked"))
        return refuse(http::status::bad_request, "malformed request: Transfer-Encoding must end in chunked");
    for (std::size_t i = 0; i + 1 < codings.size(); ++i)
        if (beast::iequals(codings[i], "chunked"))
            return refuse(http::status::bad_request, "malformed request: chunked is applied more than once");
    if (codings.size() > 1)
        return refuse(http::status::not_implemented, "transfer coding '" + std::string{codings.front()} + "' is not implemented");
    return std::nullopt;
}

} // namespace

bool valid_host(std::string_view value)
{
    // An empty Host is what a client sends when the target has no authority.
    if (value.empty())
        return true;
    auto const authority = boost::urls::parse_authority(value);
    return authority && !authority->has_userinfo();
}

framing check_framing(request_parser const& parser, std::uint64_t max_body_bytes)
{
    auto const& req = parser.get();

    // HTTP/1.0 and 1.1 only; "HTTP/9.9" parses, but is not a request we understand.
    if (req.version() != 10 && req.version() != 11)
        return refuse(http::status::bad_request, "malformed request: unsupported HTTP version");

    // Host: required in 1.1, never twice, always valid (RFC 9112 §3.2).
    auto const hosts = req.count(http::field::host);
    if (hosts == 0 && req.version() == 11)
        return refuse(http::status::bad_request, "malformed request: no Host header");
    if (hosts > 1)
        return refuse(http::status::bad_request, "malformed request: more than one Host header");
    if (hosts == 1 && !valid_host(req[http::field::host]))
        return refuse(http::status::bad_request, "malformed request: invalid Host header");

    // The body: chunked, a length, or none.
    framing f;
    if (req.count(http::field::transfer_encoding) > 0) {
        if (auto refused = check_transfer_codings(req))
            return *refused;
        f.body = framing::body_kind::chunked;
    } else if (auto const length = parser.content_length(); length && *length > 0) {
        if (*length > max_body_bytes)
            return refuse(http::status::payload_too_large, "request body exceeds " + std::to_string(max_body_bytes) + " bytes");
        f.body = framing::body_kind::length;
        f.length = *length;
    }

    // The parser has already combined every Connection field with the version's default.
    f.keep_alive = parser.keep_alive();

    // A 1.1 client with a body may wait for 100 Continue; 1.0 clients never do (RFC 9110 §10.1.1).
    if (req.version() == 11 && f.body != framing::body_kind::none)
        if (auto const expect = req.find(http::field::expect); expect != req.end())
            f.expects_continue = beast::iequals(trim_ows(expect->value()), "100-continue");
    return f;
}

reply parse_error_reply(error_code const& ec, std::uint32_t max_header_bytes, std::uint64_t max_body_bytes)
{
    if (ec == http::error::header_limit)
        return error_reply(http::status::request_header_fields_too_large,
                           "request header exceeds " + std::to_string(max_header_bytes) + " bytes");
    if (ec == http::error::body_limit)
        return error_reply(http::status::payload_too_large, "request body exceeds " + std::to_string(max_body_bytes) + " bytes");
    return error_reply(http::status::bad_request, "malformed request: " + ec.message());
}

} // namespace cvp
