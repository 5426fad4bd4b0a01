#pragma once

/// The process: listening, accepting, the connection cap, signals and the drain. What
/// differs between execution models (which loops and threads exist, where a connection is
/// served and where its work runs) is the model's, in server/models/.

#include "handlers/context.hpp"
#include "handlers/work_timeline.hpp"
#include "server/asio.hpp"
#include "server/config.hpp"
#include "server/cpu_limits.hpp"
#include "server/descriptor_budget.hpp"
#include "server/drain_gate.hpp"
#include "server/models/model.hpp"
#include "server/stall_watchdog.hpp"
#include "server/stats.hpp"
#include "server/stop_signals.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cvp {

class server final : public server_view
{
public:
    /// Plans the model from the config and the CPUs the process may use.
    server(config cfg, cpu_limits limits);
    ~server() override;
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    /// Opens the listening socket(s) and starts catching SIGTERM/SIGINT. Throws
    /// boost::system::system_error on failure.
    void listen();

    /// The address actually bound (the real port when --port 0 was given).
    tcp::endpoint local_endpoint() const;

    /// The start-up line: mode, threads, pinned CPUs, cgroup quota, parallelism, the
    /// connection cap, address and port.
    std::string startup_line() const;

    /// Sets the connection cap from --max-connections and the descriptors that
    /// `open_files` leaves once those open now are kept: called once, after listen().
    connection_budget budget_connections(std::uint64_t open_files);

    /// Serves until a drain completes; returns the process exit code.
    int run();

    /// Starts the drain: take the connections already queued to be accepted, stop
    /// accepting, report not-ready, give every connection waiting for a request
    /// --drain-grace to deliver one (answered with "Connection: close"), let requests in
    /// progress finish, and stop when the last connection has closed or --drain-timeout
    /// has passed. Safe from any thread.
    void drain();

    stats_snapshot stats() const override;
    bool draining() const noexcept override { return gate_.closed(); }
    work_timeline* timeline() const noexcept override { return timeline_.get(); }
    std::string_view chart_js_path() const noexcept override { return cfg_.chart_js; }

private:
    /// Waits for connections on acceptor `i` and takes every one queued each time.
    asio::awaitable<void> accept_loop(std::size_t i);
    /// Accepts, without waiting, every connection already queued on acceptor `i`; returns
    /// the error that stopped it, would_block when the queue is simply empty.
    error_code accept_queued(std::size_t i);
    asio::awaitable<void> enforce_drain_timeout();
    void wait_for_signal();
    void stop_loops();

    config cfg_;
    cpu_limits limits_;
    std::int64_t started_ns_;
    std::atomic<bool> draining_{false};
    std::atomic<bool> stopping_{false};
    /// Acceptors that have not yet stopped accepting, in a drain.
    std::atomic<std::size_t> acceptors_open_{0};
    drain_gate gate_;
    connection_budget budget_;
    stats_registry stats_;
    /// The recorded work intervals (--timeline); null when recording is off. Before the
    /// model, so that it outlives every thread that records.
    std::unique_ptr<work_timeline> timeline_;
    /// The downstream HTTP service, resolved once; empty without --upstream.
    std::optional<downstream_target> upstream_;
    /// The database, and the synchronous path's one pool; empty without --db.
    std::optional<database_target> db_;
    std::unique_ptr<sync_database> db_blocking_;
    std::unique_ptr<execution_model> model_;
    /// Watches the model's loops for stalls; empty with --stall-threshold 0.
    std::optional<stall_watchdog> watchdog_;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    std::optional<stop_signals> signals_;
};

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
std::uint64_t raise_open_file_limit();

} // namespace cvp
