#pragma once

/// One connection's life in `threads`, on the thread that owns it: the same exchange as
/// every other model (server/exchange.hpp), over a blocking_connection.

#include "server/drain_signals.hpp"
#include "server/loop_env.hpp"

namespace cvp {

/// Serves requests on the accepted socket `fd` on the calling thread, blocking in its
/// reads and writes, until the peer closes, a deadline passes, the input is malformed,
/// or the drain or `signals`' close ends it; then closes `fd`. The connection must have
/// been admitted by `env.gate`; it leaves it when it ends.
void serve_on_this_thread(int fd, loop_env& env, drain_signals const& signals);

} // namespace cvp
