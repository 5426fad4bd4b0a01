/// `blocking_connection`, the transport of `threads`: its waits under deadlines, the
/// drain's and the close's wake-ups, and the promise that the exchange's loop on a
/// connection thread holds no descriptor. Times are only checked as lower bounds.

#include "server/blocking_connection.hpp"
#include "server/runners.hpp"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

namespace cvp {
namespace {

using namespace std::chrono_literals;
using clock = blocking_connection::clock;

/// Descriptors this process holds.
std::size_t open_descriptors()
{
    std::size_t n = 0;
    for ([[maybe_unused]] auto const& e : std::filesystem::directory_iterator{"/proc/self/fd"})
        ++n;
    return n;
}

/// Runs `co` to its end on a loop of its own, as a connection thread does.
template <class T>
T run_on_own_loop(asio::awaitable<T> co)
{
    asio::io_context ctx{1};
    auto result = asio::co_spawn(ctx, std::move(co), asio::use_future);
    ctx.run();
    return result.get();
}

/// A connected pair: the server side in a blocking_connection, the client side raw.
class blocking_transport : public ::testing::Test
{
protected:
    blocking_transport()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            throw std::runtime_error{"socketpair"};
        client_ = fds[1];
        conn_.emplace(fds[0], signals_, gate_, 100ms);
    }
    ~blocking_transport() override { ::close(client_); }

    /// Reads on the server side, blocking, until it ends.
    std::tuple<error_code, std::size_t> read() { return run_on_own_loop(conn_->read_when_ready(std::span<char>{buffer_})); }

    drain_signals signals_;
    drain_gate gate_;
    int client_ = -1;
    std::optional<blocking_connection> conn_;
    std::array<char, 64> buffer_{};
};

TEST_F(blocking_transport, a_read_returns_what_the_peer_sent)
{
    ASSERT_EQ(::write(client_, "hello", 5), 5);
    conn_->set_read_deadline(clock::now() + 10s);
    auto const [ec, n] = read();
    EXPECT_FALSE(ec);
    EXPECT_EQ(std::string_view(buffer_.data(), n), "hello");
    EXPECT_FALSE(conn_->expired());
}

TEST_F(blocking_transport, a_read_ends_at_its_deadline_and_closes)
{
    auto const due = clock::now() + 50ms;
    conn_->set_read_deadline(due);
    auto const [ec, n] = read();
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_EQ(n, 0u);
    EXPECT_GE(clock::now(), due);
    EXPECT_TRUE(conn_->expired());
    EXPECT_EQ(conn_->native_handle(), -1);
}

TEST_F(blocking_transport, a_read_sees_the_peer_close)
{
    ::shutdown(client_, SHUT_WR);
    conn_->set_read_deadline(clock::now() + 10s);
    auto const [ec, n] = read();
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_FALSE(conn_->expired());
}

TEST_F(blocking_transport, a_peer_that_does_not_read_fails_the_write_at_its_deadline)
{
    // Far more than the socket buffers hold, to a client that never reads.
    conn_->output().assign(32 << 20, 'x');
    auto const started = clock::now();
    conn_->flush();
    EXPECT_GE(clock::now(), started + 100ms);
    EXPECT_TRUE(conn_->failed());
    EXPECT_TRUE(conn_->expired());
    EXPECT_EQ(conn_->pending(), 0u);
    EXPECT_EQ(conn_->native_handle(), -1);
}

TEST_F(blocking_transport, output_that_the_peer_takes_is_all_sent)
{
    std::string const big(1 << 20, 'y');
    conn_->output() = big;
    std::string got;
    std::thread reader{[&] {
        std::array<char, 65536> chunk{};
        while (got.size() < big.size()) {
            auto const n = ::read(client_, chunk.data(), chunk.size());
            if (n <= 0)
                break;
            got.append(chunk.data(), static_cast<std::size_t>(n));
        }
    }};
    conn_->flush();
    reader.join();
    EXPECT_FALSE(conn_->failed());
    EXPECT_EQ(conn_->pending(), 0u);
    EXPECT_EQ(got, big);
}

TEST_F(blocking_transport, the_drain_wakes_an_idle_wait_which_ends_at_the_grace_deadline)
{
    // Waiting for a request with a long deadline; the drain starts meanwhile.
    conn_->set_idle(true);
    conn_->set_read_deadline(clock::now() + 60s);
    auto const grace = clock::now() + 100ms;
    auto waiting = std::async(std::launch::async, [this] { return read(); });
    std::this_thread::sleep_for(20ms);
    gate_.begin_drain(grace);
    signals_.drain();
    auto const [ec, n] = waiting.get();
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_GE(clock::now(), grace);
    EXPECT_TRUE(conn_->expired());
}

TEST_F(blocking_transport, in_a_drain_an_idle_connection_may_still_deliver_its_request)
{
    conn_->set_idle(true);
    conn_->set_read_deadline(clock::now() + 60s);
    gate_.begin_drain(clock::now() + 10s);
    signals_.drain();
    ASSERT_EQ(::write(client_, "GET", 3), 3);
    auto const [ec, n] = read();
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 3u);
}

TEST_F(blocking_transport, the_drain_spares_a_connection_in_the_middle_of_a_request)
{
    // Not idle: only its own deadline counts, not the grace.
    auto const due = clock::now() + 150ms;
    conn_->set_read_deadline(due);
    gate_.begin_drain(clock::now());
    signals_.drain();
    auto const [ec, n] = read();
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_GE(clock::now(), due);
}

TEST_F(blocking_transport, the_close_signal_ends_a_wait_without_a_deadline)
{
    auto waiting = std::async(std::launch::async, [this] { return read(); });
    std::this_thread::sleep_for(20ms);
    signals_.close();
    auto const [ec, n] = waiting.get();
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_FALSE(conn_->expired());
    EXPECT_EQ(conn_->native_handle(), -1);
}

TEST_F(blocking_transport, after_the_close_signal_a_busy_connection_reads_nothing_more)
{
    ASSERT_EQ(::write(client_, "GET", 3), 3);
    signals_.close();
    error_code ec;
    conn_->read_now(std::span<char>{buffer_}, ec);
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_EQ(conn_->native_handle(), -1);
}

TEST_F(blocking_transport, a_pause_and_a_runner_wait_end_at_the_close_signal)
{
    auto pausing = std::async(std::launch::async, [this] { run_on_own_loop(conn_->pause(60s)); });
    thread_runner runner{signals_};
    auto waiting = std::async(std::launch::async, [&runner] { return run_on_own_loop(runner.wait(60s)); });
    std::this_thread::sleep_for(20ms);
    signals_.close();
    // Both return long before their minute (the test's own timeout would end them).
    pausing.get();
    auto const w = waiting.get();
    EXPECT_LE(w.start_ns, w.end_ns);
}

TEST_F(blocking_transport, a_runner_wait_blocks_for_its_duration)
{
    thread_runner runner{signals_};
    auto const w = run_on_own_loop(runner.wait(50ms));
    EXPECT_GE(w.end_ns - w.start_ns, 50'000'000);
}

TEST_F(blocking_transport, the_loop_a_connection_thread_runs_holds_no_descriptor)
{
    // Everything the exchange awaits on a connection thread: a read, a pause, the
    // drained check and a downstream wait, on the thread's own io_context.
    auto const before = open_descriptors();
    ASSERT_EQ(::write(client_, "x", 1), 1);
    thread_runner runner{signals_};
    asio::io_context ctx{1};
    std::size_t during = 0;
    auto exchange = [&]() -> asio::awaitable<void> {
        co_await conn_->read_when_ready(std::span<char>{buffer_});
        co_await conn_->pause(1ms);
        co_await conn_->drained();
        co_await runner.wait(1ms);
        during = open_descriptors();
    };
    asio::co_spawn(ctx, exchange(), asio::detached);
    ctx.run();
    EXPECT_EQ(during, before);
    EXPECT_EQ(open_descriptors(), before);
}

TEST(drain_signals, hold_two_descriptors_and_stay_raised)
{
    auto const before = open_descriptors();
    drain_signals signals;
    EXPECT_EQ(open_descriptors(), before + 2);
    EXPECT_FALSE(signals.closing());
    signals.close();
    signals.close();
    EXPECT_TRUE(signals.closing());
    // Raised for good: a sleep returns at once, however many times.
    signals.sleep(60s);
    signals.sleep(60s);
}

} // namespace
} // namespace cvp
