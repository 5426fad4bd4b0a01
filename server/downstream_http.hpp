#pragma once

/// What both downstream clients share: where the downstream is, the request they send, the
/// parser they read its answer with, and which fault an error stands for.

#include "handlers/downstream.hpp"
#include "server/asio.hpp"
#include "server/config.hpp"

#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cvp {

/// The downstream and the bounds of a call to it: made once at start-up from the config.
struct downstream_target
{
    tcp::endpoint endpoint;
    /// "http://HOST:PORT", as --upstream gave it.
    std::string origin;
    /// "HOST:PORT", the Host field of every request.
    std::string host_field;
    std::size_t connections = 0;
    std::size_t queue = 0;
    std::chrono::milliseconds connect_timeout{};
    std::chrono::milliseconds timeout{};
    std::uint64_t max_body = 0;
};

/// Resolves --upstream's host once (a name or an address literal); empty without
/// --upstream. Sets `error` and returns empty when the host does not resolve.
std::optional<downstream_target> resolve_downstream(config const& cfg, std::string& error);

/// The bytes of a keep-alive GET for `target` (origin form).
std::string downstream_request(downstream_target const& d, std::string_view target);

/// An answer is read whole into a string, within the header and body limits.
using downstream_parser = http::response_parser<http::string_body>;

/// A parser for one answer, its body bounded by --upstream-max-body.
void limit_parser(downstream_parser& parser, downstream_target const& d);

/// The fault of a connection that could not be opened.
downstream_fault connect_fault(error_code ec) noexcept;

/// The fault of an exchange on an open connection that ended in `ec`.
downstream_fault exchange_fault(error_code ec) noexcept;

/// True when the downstream closed the connection before a byte of the answer came back:
/// an idle connection it had closed, where a GET may be sent again on a new one.
bool closed_before_answer(error_code ec, downstream_parser const& parser) noexcept;

} // namespace cvp
