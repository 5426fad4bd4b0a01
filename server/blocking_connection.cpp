#include "server/blocking_connection.hpp"

#include "server/stats.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>

namespace cvp {

namespace {

using clock = blocking_connection::clock;

/// Storage grown past this by an unusually large response is freed rather than kept.
constexpr std::size_t max_kept_output = 64 * 1024;

error_code last_error()
{
    return error_code{errno, asio::error::get_system_category()};
}

} // namespace

blocking_connection::blocking_connection(int fd, drain_signals const& signals, drain_gate const& gate,
                                         std::chrono::milliseconds write_timeout)
    : fd_(fd)
    , signals_(signals)
    , gate_(gate)
    , write_timeout_(write_timeout)
{
    // Small responses leave at once instead of waiting for the peer's delayed ACK.
    int const on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

blocking_connection::~blocking_connection()
{
    close();
}

std::size_t blocking_connection::read_now(std::span<char> space, error_code& ec)
{
    ec = {};
    // Closed, or told to close: a busy client never reaches the poll that would see it.
    if (fd_ < 0 || signals_.closing()) {
        close();
        ec = asio::error::operation_aborted;
        return 0;
    }
    for (;;) {
        auto const n = ::recv(fd_, space.data(), space.size(), MSG_DONTWAIT);
        if (n > 0)
            return static_cast<std::size_t>(n);
        if (n == 0) {
            ec = asio::error::eof;
            return 0;
        }
        if (errno == EINTR)
            continue;
        ec = errno == EAGAIN || errno == EWOULDBLOCK ? error_code{asio::error::would_block} : last_error();
        return 0;
    }
}

asio::awaitable<std::tuple<error_code, std::size_t>> blocking_connection::read_when_ready(std::span<char> space)
{
    for (;;) {
        // Block until the socket has something, or the wait ends.
        switch (wait_for(POLLIN, read_deadline_, idle_)) {
        case wait_result::ready: break;
        case wait_result::timed_out: expired_ = true; [[fallthrough]];
        case wait_result::closing: close(); co_return std::tuple{error_code{asio::error::operation_aborted}, std::size_t{0}};
        }
        // Then read it; a wake-up with nothing to read waits again.
        error_code ec;
        auto const n = read_now(space, ec);
        if (ec != asio::error::would_block)
            co_return std::tuple{ec, n};
    }
}

blocking_connection::wait_result blocking_connection::wait_for(short events, clock::time_point due, bool idle)
{
    for (;;) {
        if (fd_ < 0)
            return wait_result::closing;
        // In a drain, a wait for a request's first byte ends by the grace deadline.
        drain_seen_ = drain_seen_ || gate_.closed();
        auto const until = idle && drain_seen_ ? std::min(due, gate_.grace_deadline()) : due;
        if (until <= clock::now())
            return wait_result::timed_out;

        // The socket, the drain signal until it is seen, and the close signal.
        std::array<pollfd, 3> fds{{
            {fd_, events, 0},
            {drain_seen_ ? -1 : signals_.drain_fd(), POLLIN, 0},
            {signals_.close_fd(), POLLIN, 0},
        }};
        // Waiting for the client's next request is this thread's wait for events.
        std::optional<event_wait_scope> waiting;
        if (idle)
            waiting.emplace();
        int const rc = ::poll(fds.data(), fds.size(), poll_timeout_ms(until));
        waiting.reset();
        if (rc < 0 && errno != EINTR)
            return wait_result::closing;
        if (fds[2].revents != 0)
            return wait_result::closing;
        if (fds[1].revents != 0)
            drain_seen_ = true;
        // Readable, writable, or an error or hang-up that the next call reports.
        if (fds[0].revents != 0)
            return wait_result::ready;
    }
}

std::size_t blocking_connection::available() const noexcept
{
    int n = 0;
    if (fd_ < 0 || ::ioctl(fd_, FIONREAD, &n) != 0)
        return 0;
    return static_cast<std::size_t>(n);
}

void blocking_connection::flush()
{
    if (failed_ || out_.empty())
        return;
    // Closed, or told to close: what is left is cut, as a closed socket cuts it.
    if (fd_ < 0 || signals_.closing()) {
        fail();
        close();
        return;
    }

    // Hand everything to the kernel; when it has no room, wait for some, under the write
    // timeout, which starts with the first wait.
    std::size_t sent = 0;
    auto deadline = clock::time_point::max();
    while (sent < out_.size()) {
        auto const n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            worker_counters::bump(current_counters().writes);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail();
            return;
        }
        if (deadline == clock::time_point::max())
            deadline = clock::now() + write_timeout_;
        auto const waited = wait_for(POLLOUT, deadline, false);
        if (waited != wait_result::ready) {
            // A client that does not read is cut off, as the asynchronous write deadline does.
            expired_ = waited == wait_result::timed_out;
            fail();
            close();
            return;
        }
    }

    // All sent: keep the storage for the next answers unless it grew unusually large.
    out_.clear();
    if (out_.capacity() > max_kept_output)
        std::string{}.swap(out_);
}

void blocking_connection::fail() noexcept
{
    failed_ = true;
    std::string{}.swap(out_);
}

asio::awaitable<void> blocking_connection::drained()
{
    co_return;
}

asio::awaitable<void> blocking_connection::pause(std::chrono::milliseconds duration)
{
    signals_.sleep(duration);
    co_return;
}

void blocking_connection::shutdown_send() noexcept
{
    if (fd_ >= 0)
        ::shutdown(fd_, SHUT_WR);
}

void blocking_connection::close() noexcept
{
    if (fd_ < 0)
        return;
    ::close(fd_);
    fd_ = -1;
}

} // namespace cvp
