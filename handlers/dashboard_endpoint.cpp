#include "handlers/dashboard_endpoint.hpp"

#include "handlers/dashboard_page.hpp"
#include "handlers/endpoint_replies.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace cvp {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

/// Debian's chart.min.js is about 200 KB: a file far larger is not the one meant.
constexpr std::uintmax_t max_chart_js_bytes = 4 * 1024 * 1024;

/// 404 for a Chart.js file that cannot be read: the answer names the package and the path.
reply chart_js_missing(std::string_view path, std::string_view why)
{
    auto const message = "Chart.js is not installed: " + std::string{path.empty() ? "no --chart-js file" : path} + ": " + std::string{why} +
                         "; install Debian's " + std::string{chart_js_package} + " (scripts/deps, or apt-get install " +
                         std::string{chart_js_package} + "), or name a copy with --chart-js";
    return json_reply(json{{"error", message}, {"status", 404}, {"package", chart_js_package}, {"path", path}}, http::status::not_found);
}

asio::awaitable<reply> dashboard(request_context&, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);

    // The page as the build embedded it; a browser asks again on every load.
    reply r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string{dashboard_page()};
    r.headers.emplace_back(http::field::cache_control, "no-cache");
    co_return r;
}

asio::awaitable<reply> dashboard_chart_js(request_context& ctx, target const& t)
{
    if (auto err = no_parameters(t))
        co_return bad_parameter(*err);

    // Read on request, so that nothing is held while nobody watches; a missing package is a 404.
    auto const path = ctx.server.chart_js_path();
    std::error_code ec;
    auto const size = path.empty() ? 0 : std::filesystem::file_size(std::filesystem::path{path}, ec);
    if (path.empty() || ec)
        co_return chart_js_missing(path, path.empty() ? "not configured" : ec.message());
    if (size > max_chart_js_bytes)
        co_return error_reply(http::status::internal_server_error, "--chart-js " + std::string{path} + " is " + std::to_string(size) +
                                                                       " bytes, more than the " + std::to_string(max_chart_js_bytes) +
                                                                       " a copy of Chart.js could be");
    std::string bytes(static_cast<std::size_t>(size), '\0');
    std::ifstream in{std::filesystem::path{path}, std::ios::binary};
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!in || in.gcount() != static_cast<std::streamsize>(bytes.size()))
        co_return chart_js_missing(path, "cannot be read");

    // The library's file as it is; the browser may keep it for a day.
    reply r;
    r.content_type = "text/javascript; charset=utf-8";
    r.body = std::move(bytes);
    r.headers.emplace_back(http::field::cache_control, "max-age=86400");
    co_return r;
}

} // namespace

void add_dashboard_routes(router& r)
{
    r.get("/dashboard", &dashboard);
    r.get("/dashboard/chart.js", &dashboard_chart_js);
}

} // namespace cvp
