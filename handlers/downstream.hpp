#pragma once

/// The second narrow interface between handlers and execution models: a call to the
/// downstream HTTP service (`--upstream`). A handler asks for a target and gets what came
/// back; the model decides how the call waits: on its loop's sockets, holding no thread,
/// or blocking its connection's thread in `threads`. Handlers never learn which.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cvp {

/// Why a downstream call failed. Each has its answer (docs/API.md, "Downstream calls").
enum class downstream_fault
{
    refused,         ///< the downstream refused the connection (502)
    connect_failed,  ///< the connection failed otherwise: unreachable, no route (502)
    connect_timeout, ///< no connection within --upstream-connect-timeout (504)
    timeout,         ///< no whole response within --upstream-timeout (504)
    reset,           ///< the connection broke before the whole response (502)
    bad_response,    ///< what came back is not an HTTP/1.1 response (502)
    too_large,       ///< the response's body is over --upstream-max-body (502)
    exhausted,       ///< every connection busy and the queue full: not sent (503)
    queue_timeout,   ///< no connection came free within --upstream-timeout (504)
    query_failed,    ///< the database refused the query (502)
};

/// Every fault, in the order /stats and /metrics list them.
inline constexpr downstream_fault all_downstream_faults[] = {
    downstream_fault::refused,       downstream_fault::connect_failed, downstream_fault::connect_timeout, downstream_fault::timeout,
    downstream_fault::reset,         downstream_fault::bad_response,   downstream_fault::too_large,       downstream_fault::exhausted,
    downstream_fault::queue_timeout, downstream_fault::query_failed,
};

/// "refused", "connect_timeout", ...: the name /stats, /metrics and error bodies use.
std::string_view to_string(downstream_fault f) noexcept;

/// What one downstream call brought back.
struct downstream_answer
{
    /// Empty when the downstream answered; then `status` and `body` are its answer.
    std::optional<downstream_fault> fault;
    /// What went wrong, in words, when `fault` is set.
    std::string detail;
    unsigned status = 0;
    std::string body;
    /// CLOCK_MONOTONIC when the call asked the pool for a connection, when it had one, and
    /// when the answer (or the fault) was complete.
    std::int64_t asked_ns = 0;
    std::int64_t sent_ns = 0;
    std::int64_t done_ns = 0;
    /// The connection came from the pool's idle ones (not opened for this call).
    bool reused = false;
    /// Tries made: 2 when a connection the downstream had closed while idle was replaced.
    int attempts = 0;
};

/// Calls the downstream service. One per loop, or one shared, as the model decides.
class downstream_client
{
public:
    virtual ~downstream_client() = default;

    /// GETs `target` (origin form, such as "/io/sleep?ms=5") from the downstream.
    virtual boost::asio::awaitable<downstream_answer> get(std::string target) = 0;

    /// "http://HOST:PORT", for answers that name the downstream.
    virtual std::string_view origin() const noexcept = 0;

protected:
    downstream_client() = default;
    downstream_client(downstream_client const&) = default;
    downstream_client& operator=(downstream_client const&) = default;
};

} // namespace cvp
