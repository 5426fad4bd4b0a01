#pragma once

/// The process: event loops, their threads, the acceptors, the pool, signals and drain.
///
/// The three models differ only in data: how many loops there are, whether their threads
/// are pinned, how accepted sockets are spread, and which work_runner the handlers get.

#include "handlers/context.hpp"
#include "server/asio.hpp"
#include "server/config.hpp"
#include "server/cpu_limits.hpp"
#include "server/drain_gate.hpp"
#include "server/runners.hpp"
#include "server/session.hpp"
#include "server/stats.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cvp {

class server final : public server_view
{
public:
    /// Plans the loops and the pool from the config and the CPUs the process may use.
    server(config cfg, cpu_limits limits);
    ~server() override;
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    /// Opens the listening socket(s). Throws boost::system::system_error on failure.
    void listen();

    /// The address actually bound (the real port when --port 0 was given).
    tcp::endpoint local_endpoint() const;

    /// The start-up line: mode, threads, pinned CPUs, cgroup quota, address and port.
    std::string startup_line() const;

    /// Serves until a drain completes; returns the process exit code.
    int run();

    /// Starts the drain: take the connections already queued to be accepted, stop
    /// accepting, report not-ready, give every connection waiting for a request
    /// --drain-grace to deliver one (answered with "Connection: close"), let requests in
    /// progress finish, and stop when the last connection has closed or --drain-timeout
    /// has passed. Safe from any thread.
    void drain();

    nlohmann::json stats() const override;
    bool draining() const noexcept override { return gate_.closed(); }

private:
    /// One event loop: an io_context, the thread that runs it, and what its sessions share.
    /// Members are ordered so that destroying the io_context (which destroys any coroutine
    /// frames still in it) happens while the registry and env they use are still alive.
    struct loop
    {
        session_registry sessions;
        std::unique_ptr<work_runner> own_runner;
        std::unique_ptr<loop_env> env;
        std::atomic<int> pinned_cpu{-1};
        std::optional<int> planned_cpu;
        asio::io_context ctx{1};
        asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
        std::optional<tcp::acceptor> acceptor;
        std::thread thread;
    };

    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::size_t own_loop);
    /// The loop the next connection accepted on `acceptor_loop` goes to.
    loop& next_target(std::size_t acceptor_loop);
    /// A connection was accepted onto `target`: move the round-robin turn on, and serve it.
    void accepted_onto(loop& target, connection::socket_type socket);
    /// Accepts, without waiting, every connection already queued on the loop's acceptor.
    void accept_queued(std::size_t acceptor_loop);
    asio::awaitable<void> enforce_drain_timeout();
    void wait_for_signal();
    void stop_loops();
    void start_session(loop& target, connection::socket_type socket);

    config cfg_;
    cpu_limits limits_;
    std::int64_t started_ns_;
    std::atomic<bool> draining_{false};
    std::atomic<bool> stopping_{false};
    /// Loops that have not yet stopped accepting, in a drain.
    std::atomic<std::size_t> loops_accepting_{0};
    /// Round-robin position; only the thread of loop 0, which owns the one acceptor, moves it.
    std::size_t next_loop_ = 0;
    drain_gate gate_;
    std::atomic<std::uint64_t> connections_rejected_{0};
    std::unique_ptr<stats_registry> stats_;
    std::vector<std::unique_ptr<loop>> loops_;
    std::unique_ptr<offload_pool> pool_;
    std::optional<asio::signal_set> signals_;
};

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
std::uint64_t raise_open_file_limit();

} // namespace cvp
