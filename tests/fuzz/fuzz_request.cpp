/// Fuzzes the request path as a session sees it, without sockets: Beast's request parser
/// (header limit 8192), check_framing, the chunked decoder (body limit 65536, trailer
/// limit 8192) or a Content-Length count, and the router, for each request of a
/// pipelined input in turn, as server/session.cpp's serve_request does.
///
/// Input: one control byte, then the bytes a client sent. The control byte is where the
/// first request's header is split between two put() calls, and seeds the sizes of the
/// pieces a chunked body is fed in.
///
/// Checks: nothing crashes or reads out of bounds; the decoder never consumes more than
/// it is given, and reaches the same end whether fed at once or in pieces; a framing
/// error closes the connection; every error reply is one of the statuses its stage may
/// give; a route match has exactly one of a handler and an error.

#include "fuzz_check.hpp"

#include "handlers/router.hpp"
#include "server/chunked_decoder.hpp"
#include "server/framing.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string_view>
#include <tuple>

namespace {

using cvp::chunked_decoder;
using cvp::framing;
namespace http = cvp::http;

// The session's limits, as cvp-server's defaults set them.
constexpr std::uint32_t max_header_bytes = 8192;
constexpr std::uint64_t max_body_bytes = 65536;
// A pipelined input is read up to this many requests.
constexpr int max_requests = 16;

/// The statuses check_framing and parse_error_reply may answer with.
bool is_framing_status(http::status s)
{
    return s == http::status::bad_request || s == http::status::payload_too_large || s == http::status::request_header_fields_too_large ||
           s == http::status::not_implemented;
}

/// A small deterministic generator for the sizes of the pieces a body is fed in.
struct piece_sizes
{
    std::uint32_t state;

    std::size_t next()
    {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // Mostly small pieces, now and then a large one.
        return (state & 7) == 0 ? 1 + (state >> 8) % 2048 : 1 + (state >> 8) % 16;
    }
};

/// What the decoder made of a body.
struct decoded
{
    chunked_decoder::status status;
    std::size_t consumed;
    std::uint64_t body_bytes;
};

/// Feeds `body` to a fresh decoder in one call.
decoded decode_at_once(std::string_view body)
{
    chunked_decoder d{max_body_bytes, max_header_bytes};
    std::size_t used = 0;
    auto const s = d.feed(body, used);
    // It consumes a prefix, and all of it when it wants more.
    FUZZ_CHECK(used <= body.size());
    FUZZ_CHECK(s != chunked_decoder::status::need_more || used == body.size());
    return {s, used, d.body_bytes()};
}

/// Feeds `body` to a fresh decoder in pieces, as reads from a socket would deliver it.
decoded decode_in_pieces(std::string_view body, piece_sizes& sizes)
{
    chunked_decoder d{max_body_bytes, max_header_bytes};
    std::size_t total = 0;
    auto s = chunked_decoder::status::need_more;
    while (total < body.size() && s == chunked_decoder::status::need_more) {
        // Feed the next piece; what the decoder leaves is the start of the next request.
        auto const piece = body.substr(total, sizes.next());
        std::size_t used = 0;
        s = d.feed(piece, used);
        // It consumes a prefix of the piece, and all of it when it wants more.
        FUZZ_CHECK(used <= piece.size());
        FUZZ_CHECK(s != chunked_decoder::status::need_more || used == piece.size());
        total += used;
    }
    return {s, total, d.body_bytes()};
}

/// The session's parser slot: an arena for the fields, and a parser made over it.
struct request_slot
{
    std::array<std::byte, 1024> storage;
    std::pmr::monotonic_buffer_resource arena{storage.data(), storage.size()};
    std::optional<cvp::request_parser> parser;

    /// A fresh parser with the header limit, over an emptied arena, as request_slot::start.
    cvp::request_parser& start()
    {
        parser.reset();
        arena.release();
        parser.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(std::pmr::polymorphic_allocator<char>{&arena}));
        parser->header_limit(max_header_bytes);
        return *parser;
    }
};

/// Checks what the router found for a request whose framing passed.
void check_route(cvp::route_match const& m)
{
    // Exactly one of a handler and an error; a handler comes with its decoded target.
    FUZZ_CHECK((m.fn != nullptr) != m.error.has_value());
    FUZZ_CHECK(m.where.has_value() == (m.fn != nullptr));
    if (!m.error)
        return;
    // 400 for a bad target, 404 for an unknown path, 405 with Allow for another method.
    auto const s = m.error->status;
    FUZZ_CHECK(s == http::status::bad_request || s == http::status::not_found || s == http::status::method_not_allowed);
    if (s == http::status::method_not_allowed)
        FUZZ_CHECK(
            std::any_of(m.error->headers.begin(), m.error->headers.end(), [](auto const& h) { return h.first == http::field::allow; }));
    FUZZ_CHECK(!m.error->body.empty());
}

/// Serves one request from the front of `in`, removing what it used. False when the
/// connection would close or wait for more input.
bool serve_one(std::string_view& in, std::size_t split, piece_sizes& sizes, request_slot& slot)
{
    auto& p = slot.start();

    // One empty line before a request line is ignored (RFC 9112 §2.2).
    if (in.starts_with("\r\n"))
        in.remove_prefix(2);

    // The header, in up to two put() calls: the first sees only the bytes before `split`.
    cvp::error_code ec;
    auto const first = std::min(split, in.size());
    std::size_t used = p.put(cvp::asio::buffer(in.data(), first), ec);
    FUZZ_CHECK(used <= first);
    if (ec == http::error::need_more && first < in.size()) {
        ec = {};
        auto const more = p.put(cvp::asio::buffer(in.data() + used, in.size() - used), ec);
        FUZZ_CHECK(more <= in.size() - used);
        used += more;
    }

    // The header is incomplete: the session would wait for more.
    if (ec == http::error::need_more)
        return false;

    // The parser refused the header: 431, 413 or 400, then close.
    if (ec) {
        auto const r = cvp::parse_error_reply(ec, max_header_bytes, max_body_bytes);
        FUZZ_CHECK(r.status == http::status::bad_request || r.status == http::status::payload_too_large ||
                   r.status == http::status::request_header_fields_too_large);
        return false;
    }
    FUZZ_CHECK(p.is_header_done());
    in.remove_prefix(used);
    auto const& req = p.get();

    // The framing rules; an error answers and closes.
    auto const f = cvp::check_framing(p, max_body_bytes);
    if (f.error) {
        FUZZ_CHECK(!f.keep_alive);
        FUZZ_CHECK(f.error->close);
        FUZZ_CHECK(is_framing_status(f.error->status));
        return false;
    }
    // A length body is within the limit and not empty; only 1.1 with a body waits for 100 Continue.
    FUZZ_CHECK((f.body == framing::body_kind::length) == (f.length > 0));
    FUZZ_CHECK(f.length <= max_body_bytes);
    FUZZ_CHECK(!f.expects_continue || (f.body != framing::body_kind::none && req.version() == 11));
    // Both Transfer-Encoding and Content-Length is a smuggling attempt: never kept alive (RFC 9112 §6.3).
    if (req.count(http::field::transfer_encoding) > 0 && req.count(http::field::content_length) > 0)
        FUZZ_CHECK(!f.keep_alive);

    // The route, found before any body is read.
    auto const route = cvp::default_router().find(req);
    check_route(route);

    // A client waiting on 100-continue for a request that fails its route is answered and closed.
    if (f.expects_continue && route.error)
        return false;

    // A chunked body: decoded in pieces, checked against decoding it at once.
    if (f.body == framing::body_kind::chunked) {
        auto const whole = decode_at_once(in);
        auto const pieces = decode_in_pieces(in, sizes);
        FUZZ_CHECK(pieces.status == whole.status);
        FUZZ_CHECK(pieces.consumed == whole.consumed);
        FUZZ_CHECK(pieces.body_bytes == whole.body_bytes);
        FUZZ_CHECK(whole.body_bytes <= max_body_bytes);
        FUZZ_CHECK(whole.body_bytes <= whole.consumed);
        if (whole.status != chunked_decoder::status::done)
            return false;
        in.remove_prefix(whole.consumed);
    }

    // A Content-Length body: counted off, or the session would wait for the rest.
    if (f.body == framing::body_kind::length) {
        if (in.size() < f.length)
            return false;
        in.remove_prefix(static_cast<std::size_t>(f.length));
    }

    // The next request follows on a kept-alive connection.
    return f.keep_alive;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    // The control byte: the header split, and the seed of the body's piece sizes.
    if (size == 0)
        return 0;
    std::size_t const split = data[0];
    piece_sizes sizes{0x9e3779b9u ^ data[0]};

    // The rest is what the client sent; requests are served until the connection would close or wait.
    std::string_view in{reinterpret_cast<char const*>(data + 1), size - 1};
    request_slot slot;
    for (int i = 0; i < max_requests && !in.empty(); ++i) {
        auto const before = in.size();
        if (!serve_one(in, i == 0 ? split : in.size(), sizes, slot))
            break;
        // Every request served uses up input.
        FUZZ_CHECK(in.size() < before);
    }
    return 0;
}
