#include "handlers/router.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace cvp {

namespace http = boost::beast::http;

reply json_reply(nlohmann::json const& body, http::status status)
{
    reply r;
    r.status = status;
    // Messages may quote what the client sent, which need not be UTF-8: replace, never throw.
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

reply error_reply(http::status status, std::string_view message, std::string_view parameter)
{
    nlohmann::json body{{"error", message}, {"status", static_cast<unsigned>(status)}};
    if (!parameter.empty())
        body["parameter"] = parameter;
    return json_reply(body, status);
}

void router::get(std::string path, handler_fn fn, route_speed speed)
{
    routes_.push_back(route{std::move(path), fn, speed});
}

void router::post(std::string path, handler_fn fn, route_speed speed)
{
    routes_.push_back(route{std::move(path), fn, speed, true});
}

std::vector<std::string> router::paths() const
{
    std::vector<std::string> out;
    for (auto const& r : routes_)
        out.push_back(r.path);
    return out;
}

route_match router::find(request const& req) const
{
    route_match m;

    // Decode the target; only origin form is served.
    auto t = parse_target(req.target());
    if (!t) {
        m.error = error_reply(http::status::bad_request, "malformed request target");
        return m;
    }

    // Find the route.
    auto it = std::find_if(routes_.begin(), routes_.end(), [&](route const& r) { return r.path == t->path; });
    if (it == routes_.end()) {
        m.error = error_reply(http::status::not_found, "no such path: " + t->path);
        return m;
    }

    // A route takes GET and HEAD, or POST alone.
    auto const method = req.method();
    auto const allowed = it->post ? method == http::verb::post : method == http::verb::get || method == http::verb::head;
    if (!allowed) {
        m.error =
            error_reply(http::status::method_not_allowed, "method " + std::string{req.method_string()} + " is not allowed on " + t->path);
        m.error->headers.emplace_back(http::field::allow, it->post ? "POST" : "GET, HEAD");
        return m;
    }

    m.fn = it->fn;
    m.speed = it->speed;
    m.where = std::move(*t);
    return m;
}

boost::asio::awaitable<reply> router::dispatch(request_context& ctx) const
{
    auto m = find(ctx.req);
    if (m.error)
        co_return std::move(*m.error);
    co_return co_await m.fn(ctx, *m.where);
}

} // namespace cvp
