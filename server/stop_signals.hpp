#pragma once

/// SIGINT and SIGTERM, the signals that drain the server, read from a signalfd.
///
/// They are blocked in every thread for the whole life of the process, so their default
/// action (terminate) never runs: a signal that arrives while the process tears down after
/// a clean drain stays pending and goes with the process, which still exits 0.
/// asio::signal_set cannot promise that: destroying the last set restores SIG_DFL, and a
/// second SIGTERM in the moments before exit killed the process (exit status -15).

#include "server/asio.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <sys/signalfd.h>

#include <functional>

namespace cvp {

/// Blocks SIGINT and SIGTERM in the calling thread. main() calls it before any other
/// thread starts: threads inherit the mask, so no thread of the process ever takes these
/// signals' default action; they wait, pending, for a stop_signals to read them.
void block_stop_signals();

/// Waits for SIGINT or SIGTERM, on one executor, through a signalfd.
class stop_signals
{
public:
    /// Blocks the signals in this thread (see block_stop_signals) and opens the signalfd.
    /// Throws boost::system::system_error.
    explicit stop_signals(asio::any_io_executor const& executor);

    /// Calls `handler(ec, signal_number)` on the executor once the next signal is taken.
    void async_wait(std::function<void(error_code, int)> handler);

private:
    asio::posix::stream_descriptor fd_;
    signalfd_siginfo info_{};
};

} // namespace cvp
