#pragma once

/// Maps a request to its handler: 400 for a malformed target, 404 for an unknown path,
/// 405 (with Allow) for a method the route does not take. Routes that only read or run
/// work take GET and HEAD; a route that changes the server's state takes POST alone.

#include "handlers/context.hpp"
#include "handlers/params.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace cvp {

/// A handler: a function from a request to a reply.
using handler_fn = boost::asio::awaitable<reply> (*)(request_context&, target const&);

/// Whether a handler answers without waiting: on a pipelined connection, answers made
/// before a handler that may wait are sent first, so that it cannot hold them back.
enum class route_speed
{
    instant,  ///< answers at once, with no I/O and no work handed to the model
    may_wait, ///< waits on a timer, or runs CPU or blocking work
};

/// What the router found for a request: a handler to call, or the error to answer.
struct route_match
{
    handler_fn fn = nullptr;
    route_speed speed = route_speed::instant;
    /// The decoded target, when a handler was found.
    std::optional<target> where;
    /// 400, 404 or 405, when none was.
    std::optional<reply> error;
};

class router
{
public:
    /// Registers `fn` for GET and HEAD on `path`.
    void get(std::string path, handler_fn fn, route_speed speed = route_speed::instant);

    /// Registers `fn` for POST alone on `path` (the request's body, if any, is discarded).
    void post(std::string path, handler_fn fn, route_speed speed = route_speed::instant);

    /// Finds the handler for `req`, without running anything.
    route_match find(request const& req) const;

    /// Finds and runs the handler for `ctx.req`.
    boost::asio::awaitable<reply> dispatch(request_context& ctx) const;

    /// The registered paths, in registration order.
    std::vector<std::string> paths() const;

private:
    struct route
    {
        std::string path;
        handler_fn fn;
        route_speed speed;
        /// POST alone, rather than GET and HEAD.
        bool post = false;
    };
    std::vector<route> routes_;
};

/// The router with every cvp endpoint registered.
router const& default_router();

} // namespace cvp
