#include "handlers/downstream_reply.hpp"

#include <nlohmann/json.hpp>

namespace cvp {

namespace http = boost::beast::http;
using json = nlohmann::json;

std::string_view to_string(downstream_fault f) noexcept
{
    switch (f) {
    case downstream_fault::refused: return "refused";
    case downstream_fault::connect_failed: return "connect_failed";
    case downstream_fault::connect_timeout: return "connect_timeout";
    case downstream_fault::timeout: return "timeout";
    case downstream_fault::reset: return "reset";
    case downstream_fault::bad_response: return "bad_response";
    case downstream_fault::too_large: return "too_large";
    case downstream_fault::exhausted: return "exhausted";
    case downstream_fault::queue_timeout: return "queue_timeout";
    case downstream_fault::query_failed: return "query_failed";
    }
    return "unknown";
}

namespace {

/// The status a fault is answered with: 503 when the call was never sent, 504 when time
/// ran out, 502 when the downstream failed.
http::status status_of(downstream_fault f) noexcept
{
    switch (f) {
    case downstream_fault::exhausted: return http::status::service_unavailable;
    case downstream_fault::connect_timeout:
    case downstream_fault::timeout:
    case downstream_fault::queue_timeout: return http::status::gateway_timeout;
    default: return http::status::bad_gateway;
    }
}

/// What a fault means, in words.
std::string_view meaning(downstream_fault f) noexcept
{
    switch (f) {
    case downstream_fault::refused: return "the downstream refused the connection";
    case downstream_fault::connect_failed: return "the connection to the downstream failed";
    case downstream_fault::connect_timeout: return "the downstream did not accept a connection in time (--upstream-connect-timeout)";
    case downstream_fault::timeout: return "the downstream did not answer in time (--upstream-timeout)";
    case downstream_fault::reset: return "the downstream closed the connection before answering";
    case downstream_fault::bad_response: return "the downstream's answer is not valid HTTP/1.1";
    case downstream_fault::too_large: return "the downstream's answer is over --upstream-max-body";
    case downstream_fault::exhausted: return "every downstream connection is busy and the queue is full; retry later";
    case downstream_fault::queue_timeout: return "no downstream connection came free in time (--upstream-timeout)";
    case downstream_fault::query_failed: return "the downstream refused the query";
    }
    return "the downstream call failed";
}

} // namespace

reply downstream_failure(std::string_view origin, downstream_answer const& a)
{
    auto const fault = a.fault.value_or(downstream_fault::bad_response);
    auto const status = status_of(fault);
    std::string message{meaning(fault)};
    if (!a.detail.empty())
        message += " (" + a.detail + ")";
    auto r = json_reply(
        json{{"error", message}, {"status", static_cast<unsigned>(status)}, {"downstream", origin}, {"fault", to_string(fault)}}, status);
    // Refused unsent: the connection is paced as any other overload answer.
    if (fault == downstream_fault::exhausted) {
        r.headers.emplace_back(http::field::retry_after, "1");
        r.overloaded = true;
    }
    return r;
}

reply downstream_status_failure(std::string_view origin, downstream_answer const& a)
{
    auto const status = http::status::bad_gateway;
    return json_reply(json{{"error", "the downstream answered " + std::to_string(a.status)},
                           {"status", static_cast<unsigned>(status)},
                           {"downstream", origin},
                           {"fault", "status"},
                           {"downstream_status", a.status}},
                      status);
}

reply database_failure(db_answer const& a)
{
    // Down or restarting (no connection, or one lost): 503, and the pool reconnects; slow: 504.
    auto const fault = a.fault.value_or(downstream_fault::reset);
    http::status status = http::status::service_unavailable;
    std::string message = "the database is unavailable";
    switch (fault) {
    case downstream_fault::connect_timeout:
    case downstream_fault::timeout:
        status = http::status::gateway_timeout;
        message = "the database did not answer in time (--db-timeout, --db-connect-timeout)";
        break;
    case downstream_fault::queue_timeout:
        status = http::status::gateway_timeout;
        message = "no database connection came free in time (--db-timeout)";
        break;
    case downstream_fault::exhausted: message = "every database connection is busy and the queue is full; retry later"; break;
    case downstream_fault::query_failed:
        status = http::status::bad_gateway;
        message = "the database refused the query";
        break;
    case downstream_fault::reset: message = "the database closed the connection"; break;
    default: break;
    }
    if (!a.detail.empty())
        message += " (" + a.detail + ")";
    auto r = json_reply(
        json{{"error", message}, {"status", static_cast<unsigned>(status)}, {"downstream", "postgres"}, {"fault", to_string(fault)}},
        status);
    if (status == http::status::service_unavailable) {
        r.headers.emplace_back(http::field::retry_after, "1");
        r.overloaded = fault == downstream_fault::exhausted;
    }
    return r;
}

} // namespace cvp
