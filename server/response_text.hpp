#pragma once

/// Turns a handler's reply into the bytes of an HTTP/1.1 response, appended to a
/// connection's output. Written by hand rather than with Beast's serializer: under
/// /plaintext the serializer's walk over basic_fields was the largest single cost in
/// the profile (see the commit that added this file for the figures).

#include "handlers/context.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace cvp {

/// What the session knows about a response beyond the handler's reply.
struct response_meta
{
    /// The model's name, for X-Mode.
    std::string_view mode;
    /// The worker that served the connection; X-Worker unless the work ran elsewhere.
    int loop_worker = 0;
    /// CLOCK_MONOTONIC when the request was parsed, for Server-Timing's total.
    std::int64_t parsed_ns = 0;
    /// HTTP minor version of the request (0 or 1); the status line always says HTTP/1.1.
    unsigned request_minor = 1;
    /// A HEAD request: the headers of GET, Content-Length included, and no body.
    bool head = false;
    bool keep_alive = true;
};

/// Appends the status line, headers and body of `r` to `out`.
void append_response(std::string& out, reply const& r, response_meta const& meta);

/// The interim response that tells a client waiting on `Expect: 100-continue` to send its body.
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

/// Milliseconds with three decimals, as Server-Timing carries them: 1234567 ns -> "1.235".
/// Writes into `buf` (at least 24 bytes) and returns the text.
std::string_view format_millis(std::int64_t ns, char* buf) noexcept;

} // namespace cvp
