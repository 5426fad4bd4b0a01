#include "server/stop_signals.hpp"

#include <boost/asio/read.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <pthread.h>

namespace cvp {

namespace {

/// SIGINT and SIGTERM.
sigset_t stop_set() noexcept
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

/// Blocks the stop signals in this thread, then opens a signalfd for them, or throws.
int open_signalfd()
{
    auto const set = stop_set();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int const fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        throw boost::system::system_error{error_code{errno, boost::system::system_category()}, "signalfd"};
    return fd;
}

} // namespace

void block_stop_signals()
{
    auto const set = stop_set();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

stop_signals::stop_signals(asio::any_io_executor const& executor)
    : fd_(executor, open_signalfd())
{}

void stop_signals::async_wait(std::function<void(error_code, int)> handler)
{
    // One siginfo record per signal taken; the number is all that is needed.
    auto on_read = [this, handler = std::move(handler)](error_code ec, std::size_t) {
        handler(ec, ec ? 0 : static_cast<int>(info_.ssi_signo));
    };
    asio::async_read(fd_, asio::buffer(&info_, sizeof info_), std::move(on_read));
}

} // namespace cvp
