#pragma once

/// An io_context with what the sessions on it share (their registry and their env), made
/// and destroyed in the one order that is safe: destroying the io_context destroys the
/// coroutine frames still in it, and those use the registry and the env, so these outlive
/// it. `event_loop` and `pool` hold one; nothing else has to keep the order in mind.

#include "server/database_async.hpp"
#include "server/downstream_async.hpp"
#include "server/models/model.hpp"
#include "server/session.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cvp {

/// What the sessions served with `runner` and enlisted in `sessions` share: the one place
/// a loop_env is made.
loop_env make_loop_env(model_services const& services, work_runner& runner, session_registry& sessions, std::string_view mode);

class session_loop
{
public:
    /// An io_context made with `concurrency_hint`, kept running until stop(). With
    /// --upstream (--db) and a `downstream_pool` name, the loop's sessions call the
    /// downstream (the database) through a pool of their own, of that name.
    session_loop(model_services const& services, work_runner& runner, std::string_view mode, int concurrency_hint,
                 std::optional<std::string> downstream_pool);
    session_loop(session_loop const&) = delete;
    session_loop& operator=(session_loop const&) = delete;

    asio::io_context& context() noexcept { return ctx_; }
    loop_env& env() noexcept { return env_; }
    session_registry& sessions() noexcept { return sessions_; }
    /// The loop's downstream pool; null without one.
    async_downstream const* downstream() const noexcept { return downstream_.get(); }
    /// The loop's database pool; null without one.
    async_database const* database() const noexcept { return database_.get(); }

    /// Stops the loop now. Safe from any thread.
    void stop() noexcept;

private:
    // Members go in reverse order: the io_context and its guard first, the registry last.
    // The downstream pool goes before the io_context: its idle sockets close while the
    // io_context's services exist. Coroutines the io_context still holds keep their own
    // connections, and their destructors never call into the pool.
    session_registry sessions_;
    loop_env env_;
    asio::io_context ctx_;
    std::unique_ptr<async_downstream> downstream_;
    std::unique_ptr<async_database> database_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{ctx_.get_executor()};
};

} // namespace cvp
