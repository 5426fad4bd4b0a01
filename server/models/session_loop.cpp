#include "server/models/session_loop.hpp"

#include <boost/asio/steady_timer.hpp>

namespace cvp {

loop_env make_loop_env(model_services const& services, work_runner& runner, session_registry& sessions, std::string_view mode)
{
    return loop_env{services.cfg, services.routes, services.server, runner, sessions, services.gate, mode};
}

session_loop::session_loop(model_services const& services, work_runner& runner, std::string_view mode, int concurrency_hint,
                           std::optional<std::string> downstream_pool)
    : env_(make_loop_env(services, runner, sessions_, mode))
    , ctx_(concurrency_hint)
{
    // Make the loop's reactor (its epoll, eventfd and timerfd) now rather than with its
    // first socket, so that the descriptors it holds count among those open at start-up.
    asio::steady_timer reactor_now{ctx_};

    // The loop's own downstream pool, its sockets on this io_context.
    if (services.upstream && downstream_pool) {
        downstream_ = std::make_unique<async_downstream>(*services.upstream, async_transport{*services.upstream, ctx_.get_executor()},
                                                         *downstream_pool);
        env_.downstream = downstream_.get();
    }
    if (services.db && downstream_pool) {
        database_ = std::make_unique<async_database>(*services.db, async_pg_transport{*services.db, ctx_.get_executor()}, *downstream_pool,
                                                     *services.db_blocking);
        env_.database = database_.get();
    }
}

void session_loop::stop() noexcept
{
    guard_.reset();
    ctx_.stop();
}

} // namespace cvp
