#pragma once

/// The framing rules of RFC 9112 and RFC 9110 that a request must pass once its header is
/// parsed, before anything else is done with it: how long the body is, whether the
/// connection persists, and whether the client waits for `100 Continue`.

#include "handlers/context.hpp"
#include "server/asio.hpp"

#include <cstdint>
#include <memory_resource>
#include <optional>

namespace cvp {

/// Beast's request parser, with the fields in a per-request arena.
using request_parser = http::request_parser<http::empty_body, std::pmr::polymorphic_allocator<char>>;

/// What the header says about the rest of the request.
struct framing
{
    enum class body_kind
    {
        none,
        length,  ///< Content-Length bytes follow
        chunked, ///< a chunked body follows
    };
    body_kind body = body_kind::none;
    std::uint64_t length = 0;
    /// Every Connection field counted (RFC 9110 §7.6.1), and the version's default.
    bool keep_alive = true;
    /// `Expect: 100-continue` from an HTTP/1.1 client that has a body to send.
    bool expects_continue = false;
    /// When set, the request breaks a rule: answer this, then close the connection.
    std::optional<reply> error;
};

/// Applies the rules to a parser whose header is done.
framing check_framing(request_parser const& parser, std::uint64_t max_body_bytes);

/// The reply for input the parser rejected: 431, 413 or 400 naming the problem.
reply parse_error_reply(error_code const& ec, std::uint32_t max_header_bytes, std::uint64_t max_body_bytes);

/// True for a valid Host field value: uri-host [ ":" port ], no userinfo (RFC 9112 §3.2).
bool valid_host(std::string_view value);

} // namespace cvp
