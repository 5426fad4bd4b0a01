#pragma once

/// What a handler receives and what it returns.

#include "handlers/database.hpp"
#include "handlers/downstream.hpp"
#include "handlers/stats_snapshot.hpp"
#include "handlers/work.hpp"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cvp {

class work_timeline;

/// A request's fields live in a per-request arena (a polymorphic allocator), so parsing
/// them costs no heap allocation per field. Bodies are read and discarded by the session:
/// no endpoint takes one.
using request_fields = boost::beast::http::basic_fields<std::pmr::polymorphic_allocator<char>>;
using request = boost::beast::http::request<boost::beast::http::empty_body, request_fields>;

/// What handlers may ask of the running server, without knowing its model.
class server_view
{
public:
    virtual ~server_view() = default;
    /// What /stats and /metrics report.
    virtual stats_snapshot stats() const = 0;
    /// True once SIGTERM/SIGINT has started the drain.
    virtual bool draining() const noexcept = 0;
    /// The work intervals recorded with --timeline N; null when recording is off.
    virtual work_timeline* timeline() const noexcept { return nullptr; }
    /// The Chart.js file /dashboard/chart.js serves (--chart-js); empty when none is set.
    virtual std::string_view chart_js_path() const noexcept { return {}; }

protected:
    server_view() = default;
    server_view(server_view const&) = default;
    server_view& operator=(server_view const&) = default;
};

/// Everything a handler may use for one request.
struct request_context
{
    request const& req;
    /// The model's name, for bodies that report it.
    std::string_view mode;
    /// The worker whose thread took the request: its loop, its connection thread, or in
    /// `pool` whichever pool thread ran the connection's strand then.
    int loop_worker = 0;
    work_runner& runner;
    server_view const& server;
    /// The downstream HTTP service, as the model calls it; null without --upstream.
    downstream_client* downstream = nullptr;
    /// The database, as the model reaches it; null without --db.
    database_client* database = nullptr;
};

/// A handler's answer. The session turns it into an HTTP response and adds the
/// attribution headers (X-Mode, X-Worker, Server-Timing) from `work`.
struct reply
{
    boost::beast::http::status status = boost::beast::http::status::ok;
    /// Always a literal: a view costs nothing to copy.
    std::string_view content_type = "application/json";
    std::string body;
    /// Extra headers, such as Allow or Retry-After.
    std::vector<std::pair<boost::beast::http::field, std::string>> headers;
    /// Where the handler's work ran, when it had CPU or blocking work.
    std::optional<work_record> work;
    /// How long a downstream call took, for Server-Timing's `upstream` (nanoseconds).
    std::optional<std::int64_t> upstream_ns;
    /// Close the connection after this reply (malformed input, connection limit).
    bool close = false;
    /// The model refused the work because it is overloaded (503): the session then
    /// paces this connection, so that refusing costs less than the work it refuses.
    bool overloaded = false;
};

/// A JSON reply with status 200 (or `status`).
reply json_reply(nlohmann::json const& body, boost::beast::http::status status = boost::beast::http::status::ok);

/// An error reply: `{"error": message, "status": code}` plus `"parameter"` when given.
reply error_reply(boost::beast::http::status status, std::string_view message, std::string_view parameter = {});

} // namespace cvp
