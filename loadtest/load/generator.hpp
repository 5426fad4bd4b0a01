#pragma once

/// The open loop: requests fall due on the schedule, each goes out on a free connection
/// (another opens, up to --max-connections, when none is free), and waits in a bounded
/// backlog when none can be had; past the backlog it is dropped and counted. Latency runs
/// from the due time, so time spent waiting for a connection or for the generator itself
/// counts against the server, as a user's request would see it.

#include "loadtest/load/arrivals.hpp"
#include "loadtest/load/load_connection.hpp"
#include "loadtest/load/options.hpp"
#include "loadtest/load/run_result.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cvp::load {

/// One run of the schedule against one server.
class generator final : public connection_owner
{
public:
    generator(run_options opts, boost::asio::ip::tcp::endpoint server);

    /// Runs the whole schedule, then waits up to --timeout for the answers still due.
    /// Returns false (with `error`) when not one connection could be opened.
    bool run(run_result& out, std::string& error);

private:
    /// A request that fell due and has not been sent.
    struct due_request
    {
        std::int64_t due_ns;
        std::uint32_t url;
        bool measured;
    };

    void on_connected(load_connection& c, bool ok) override;
    void on_exchange_done(load_connection& c, outcome o, unsigned status) override;

    /// Sends every request whose time has come, then waits for the next.
    void on_tick();
    /// Sends `r` on a free connection, queues it for one, or drops it.
    void dispatch(due_request r, std::int64_t now);
    void send_on(load_connection& c, due_request r, std::int64_t now);
    /// A connection is free: it takes the oldest waiting request, or waits itself.
    void release(load_connection& c);
    /// Opens one more connection (a closed one's object is reused).
    void open_connection(std::int64_t now);
    /// Closes connections whose connect or exchange has run past --timeout.
    void sweep();
    /// Runs `sweep` again a fraction of --timeout from now.
    void arm_sweep();
    /// Starts the schedule (after the first connections have opened).
    void start_schedule();
    /// Stops once the schedule is done and nothing is in flight, or at the deadline.
    void maybe_finish(std::int64_t now);
    /// Counts what never finished and closes every connection.
    void finish();
    /// A connection's socket is gone: it is no longer counted as open.
    void forget(load_connection& c);

    run_options opts_;
    boost::asio::ip::tcp::endpoint server_;
    boost::asio::io_context ioc_{1};
    boost::asio::steady_timer tick_{ioc_};
    boost::asio::steady_timer sweep_timer_{ioc_};
    arrival_schedule schedule_;
    weighted_rotation rotation_;
    std::vector<std::string> requests_;
    std::vector<std::unique_ptr<load_connection>> connections_;
    std::vector<load_connection*> idle_;
    std::deque<due_request> backlog_;
    /// The request each busy connection carries, by the connection's id.
    std::vector<std::optional<due_request>> in_flight_;
    /// Connection objects whose socket is closed, to reuse before making new ones.
    std::vector<load_connection*> closed_;

    std::int64_t start_ns_ = 0;
    std::int64_t measure_from_ns_ = 0;
    std::int64_t measure_until_ns_ = 0;
    std::int64_t next_due_ns_ = 0;
    std::int64_t deadline_ns_ = 0;
    bool schedule_done_ = false;
    bool finished_ = false;
    std::size_t open_or_opening_ = 0;
    std::size_t connected_ = 0;
    std::size_t busy_ = 0;
    std::size_t initial_pending_ = 0;
    bool started_ = false;

    run_result result_;
    /// The generator's own lag: due time to the moment it got to the request.
    latency_histogram own_lag_;
};

} // namespace cvp::load
