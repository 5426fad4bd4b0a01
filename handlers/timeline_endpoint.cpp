#include "handlers/timeline_endpoint.hpp"

#include "common/clock.hpp"
#include "handlers/endpoint_replies.hpp"
#include "handlers/work_timeline.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <map>

namespace cvp {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

/// The largest `since`: any CLOCK_MONOTONIC reading fits below it.
constexpr std::uint64_t max_since_ns = std::numeric_limits<std::int64_t>::max();

/// 409 when the server records nothing: the answer names the flag that turns it on.
reply recording_off(std::string_view mode)
{
    return json_reply(json{{"error", "timeline recording is off: start the server with --timeline N (events kept per worker)"},
                           {"status", 409},
                           {"recording", false},
                           {"model", mode}},
                      http::status::conflict);
}

json event_json(timeline_event const& e)
{
    return json{
        {"start_ns", e.start_ns}, {"end_ns", e.end_ns}, {"kind", to_string(e.kind)}, {"target", e.target()}, {"connection", e.connection}};
}

/// One worker's row: its id and kind, the events read from its ring, and its counts.
json worker_json(int id, std::string_view kind, timeline_ring::contents const* ring)
{
    json events = json::array();
    if (ring != nullptr)
        for (auto const& e : ring->events)
            events.push_back(event_json(e));
    return json{{"id", id},
                {"kind", kind},
                {"recorded", ring != nullptr ? ring->recorded : 0},
                {"overwritten", ring != nullptr ? ring->overwritten : 0},
                {"events", std::move(events)}};
}

asio::awaitable<reply> stats_timeline(request_context& ctx, target const& t)
{
    // Validate.
    param_reader p{t.params};
    auto const since = static_cast<std::int64_t>(p.number("since", 0, max_since_ns, 0));
    if (auto err = p.finish())
        co_return bad_parameter(*err);
    auto const* timeline = ctx.server.timeline();
    if (timeline == nullptr)
        co_return recording_off(ctx.mode);

    // The clock first, then the rings: every event read ended before now_ns, or while
    // this request read (those come again in an answer since now_ns).
    auto const now = monotonic_ns();
    auto const workers = ctx.server.stats().workers;
    std::map<int, timeline_ring::contents> rings;
    for (auto& w : timeline->since(since))
        rings.emplace(w.worker, std::move(w.contents));

    // Every worker the server has, with what its ring kept (nothing for one that ran no work).
    json rows = json::array();
    for (auto const& w : workers) {
        auto const it = rings.find(w.id);
        rows.push_back(worker_json(w.id, w.kind, it != rings.end() ? &it->second : nullptr));
    }
    co_return json_reply(json{{"model", ctx.mode},
                              {"recording", true},
                              {"events_per_worker", timeline->events_per_worker()},
                              {"since_ns", since},
                              {"now_ns", now},
                              {"workers", std::move(rows)}});
}

} // namespace

void add_timeline_routes(router& r)
{
    r.get("/stats/timeline", &stats_timeline);
}

} // namespace cvp
