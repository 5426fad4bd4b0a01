#pragma once

/// The per-request state of an exchange: the parser with an arena for its fields, and
/// what the framing rules, the router and the handler said. Taken from a per-thread
/// recycler for each request, so that parsing allocates nothing once warm.

#include "handlers/context.hpp"
#include "handlers/router.hpp"
#include "server/framing.hpp"
#include "server/recording_runner.hpp"
#include "server/recycler.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <tuple>
#include <utility>

namespace cvp {

/// The parser of one request, with an arena for its fields.
struct request_slot
{
    /// Room for the fields of a typical request; larger headers spill to the heap.
    std::array<std::byte, 1024> storage;
    std::pmr::monotonic_buffer_resource arena{storage.data(), storage.size()};
    std::optional<request_parser> parser;
    /// What the framing rules, the router and the handler said of the request. Kept here
    /// rather than in the exchange's coroutine frame, so that the frame stays small enough
    /// for Asio's per-thread frame cache (about 1 KiB) and costs no allocation per request.
    framing rules;
    route_match route;
    reply answer;
    /// With --timeline, the runner that records this request's work (made per request).
    std::optional<recording_runner> recorder;

    /// A fresh parser with the header limit, over an emptied arena.
    request_parser& start(std::uint32_t header_limit)
    {
        parser.reset();
        arena.release();
        parser.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(std::pmr::polymorphic_allocator<char>{&arena}));
        parser->header_limit(header_limit);
        return *parser;
    }
};

/// Returns a request_slot to the calling thread's recycler when the request is done.
struct slot_return
{
    void operator()(request_slot* s) const
    {
        s->parser.reset();
        recycler<request_slot>::give(std::unique_ptr<request_slot>{s});
    }
};
using slot_handle = std::unique_ptr<request_slot, slot_return>;

/// A recycled slot, or a new one.
inline slot_handle take_slot()
{
    return slot_handle{recycler<request_slot>::take().release()};
}

} // namespace cvp
