#pragma once

/// One event loop: an io_context, the thread that runs it, and what its sessions share.
/// `single`, `reactors` and `offload` are made of these, and `threads` accepts on one.

#include "server/models/lag_monitor.hpp"
#include "server/models/model.hpp"
#include "server/models/session_loop.hpp"

#include <boost/asio/detail/concurrency_hint.hpp>

#include <optional>
#include <string>
#include <thread>

namespace cvp {

class event_loop
{
public:
    /// Adds the loop's worker to the registry; its thread is meant for `cpu` when given.
    /// `private_io`: no other thread ever starts I/O on the loop's sockets, not even to
    /// accept onto it, so Asio may skip the per-socket lock (about 0.8% of the CPU under
    /// /plaintext was that lock and its unlock).
    /// `calls_downstream`: its sessions call the downstream, through a pool of the loop's
    /// own ("loop N"); not so for `threads`' acceptor, whose connections have their own.
    event_loop(model_services const& services, work_runner& runner, std::string_view mode, std::optional<int> cpu, bool private_io,
               bool calls_downstream = true);
    event_loop(event_loop const&) = delete;
    event_loop& operator=(event_loop const&) = delete;

    /// Starts the thread, named `name`, pinned where planned, with the lag timer armed.
    void start(std::string name);
    /// Stops the loop now. Safe from any thread.
    void stop() noexcept;
    void join();

    int worker() const noexcept { return worker_; }
    std::optional<int> planned_cpu() const noexcept { return planned_cpu_; }
    asio::io_context& context() noexcept { return loop_.context(); }
    loop_env& env() noexcept { return loop_.env(); }
    session_registry& sessions() noexcept { return loop_.sessions(); }
    async_downstream const* downstream() const noexcept { return loop_.downstream(); }
    async_database const* database() const noexcept { return loop_.database(); }

private:
    int worker_;
    worker_counters& counters_;
    std::optional<int> planned_cpu_;
    session_loop loop_;
    /// After the loop: its timer goes before the io_context does.
    lag_monitor lag_;
    std::thread thread_;
};

/// The concurrency hint of an io_context run by one thread: with `private_io`, the
/// reactor's per-socket locking is off (the scheduler's stays, for posts from elsewhere).
inline int one_thread_hint(bool private_io) noexcept
{
    return private_io ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : 1;
}

/// Starts the calling thread as worker `id`: its counters, its name, and its CPU when one
/// is planned (reported in /stats only once the pin took).
void enter_worker_thread(int id, worker_counters& counters, std::string const& name, std::optional<int> cpu);

} // namespace cvp
