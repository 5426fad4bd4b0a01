#include "server/drain_signals.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <system_error>

namespace cvp {

namespace {

/// A new eventfd; throws when there is none to be had.
int open_eventfd()
{
    int const fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        throw std::system_error{errno, std::generic_category(), "eventfd"};
    return fd;
}

/// Makes `fd` readable for good: nothing ever reads it back.
void raise(int fd) noexcept
{
    std::uint64_t const one = 1;
    // EAGAIN only if the counter is full, and then it is readable already.
    [[maybe_unused]] auto const n = ::write(fd, &one, sizeof one);
}

} // namespace

drain_signals::drain_signals()
    : drain_fd_(open_eventfd())
{
    try {
        close_fd_ = open_eventfd();
    } catch (...) {
        ::close(drain_fd_);
        throw;
    }
}

drain_signals::~drain_signals()
{
    ::close(drain_fd_);
    ::close(close_fd_);
}

void drain_signals::drain() noexcept
{
    raise(drain_fd_);
}

void drain_signals::close() noexcept
{
    // The flag first: a thread that sees the descriptor readable also sees the flag.
    closing_.store(true, std::memory_order_release);
    raise(close_fd_);
}

void drain_signals::sleep(std::chrono::milliseconds duration) const
{
    auto const until = std::chrono::steady_clock::now() + duration;
    for (;;) {
        // Only the close signal ends it early; an interrupted poll waits again.
        pollfd closing{close_fd_, POLLIN, 0};
        int const timeout = poll_timeout_ms(until);
        if (timeout == 0 || ::poll(&closing, 1, timeout) > 0)
            return;
    }
}

int poll_timeout_ms(std::chrono::steady_clock::time_point due)
{
    if (due == std::chrono::steady_clock::time_point::max())
        return -1;
    auto const left = std::chrono::ceil<std::chrono::milliseconds>(due - std::chrono::steady_clock::now()).count();
    return static_cast<int>(std::clamp<std::int64_t>(left, 0, INT_MAX));
}

} // namespace cvp
