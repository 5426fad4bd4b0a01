#pragma once

/// Maps a request to its handler: 400 for a malformed target, 404 for an unknown path,
/// 405 (with Allow) for a method the route does not take.

#include "handlers/context.hpp"
#include "handlers/params.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace cvp {

/// A handler: a function from a request to a reply.
using handler_fn = boost::asio::awaitable<reply> (*)(request_context&, target const&);

class router
{
public:
    /// Registers `fn` for GET and HEAD on `path`.
    void get(std::string path, handler_fn fn);

    /// Finds and runs the handler for `ctx.req`.
    boost::asio::awaitable<reply> dispatch(request_context& ctx) const;

    /// The registered paths, in registration order.
    std::vector<std::string> paths() const;

private:
    struct route
    {
        std::string path;
        handler_fn fn;
    };
    std::vector<route> routes_;
};

/// The router with every cvp endpoint registered.
router const& default_router();

} // namespace cvp
