#pragma once

/// One asynchronous connection's life, the same in every event-loop model: open, serve
/// requests through the exchange, park while idle, close gracefully; or refuse. The model
/// only decides which loop the socket belongs to, whether its steps need a strand, and
/// which work_runner the handlers get.

#include "server/asio.hpp"
#include "server/connection.hpp"
#include "server/exchange.hpp"
#include "server/loop_env.hpp"
#include "server/session_registry.hpp"

#include <optional>

namespace cvp {

/// Serves requests on an accepted socket, on its executor (or on `strand`, over it), until
/// the peer closes, a timeout fires, the input is malformed, or the server drains. The
/// connection must have been admitted by `env.gate`; the session leaves it when it ends.
void start_session(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand = std::nullopt);

/// Admits an accepted socket under --max-connections and serves it, or refuses it.
void admit_session(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand = std::nullopt);

/// Answers 503 "too many connections" and closes: the connection limit was reached.
void refuse_connection(connection::socket_type socket, loop_env& env, std::optional<connection::strand_type> strand = std::nullopt);

} // namespace cvp
