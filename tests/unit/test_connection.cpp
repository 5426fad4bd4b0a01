/// `connection`'s deadlines and failure states, on a real io_context and a loopback TCP
/// pair. Times are only ever checked as lower bounds (a deadline never fires early);
/// what fired is read from the connection's own state.

#include "server/connection.hpp"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace cvp {
namespace {

using namespace std::chrono_literals;
using clock = connection::clock;

/// A server-side connection and the client socket at the other end of it.
class connection_timers : public ::testing::Test
{
protected:
    connection_timers()
    {
        tcp::acceptor acceptor{ctx_, tcp::endpoint{asio::ip::address_v4::loopback(), 0}};
        client_.connect(acceptor.local_endpoint());
        conn_ = std::make_shared<connection>(acceptor.accept(ctx_.get_executor()), std::nullopt, 100ms);
    }

    ~connection_timers() override
    {
        // Its pending handlers go with the loop; the socket first.
        conn_->close();
        ctx_.poll();
    }

    /// Starts a read on the server side that records how it ended, and when.
    void start_read()
    {
        auto handler = [this](error_code ec, std::size_t) {
            read_ec_ = ec;
            read_done_ = clock::now();
        };
        conn_->start([this](auto h) { conn_->socket().async_read_some(asio::buffer(landing_), std::move(h)); }, std::move(handler));
    }

    /// Runs the loop until the read has ended, within a bound that is only a safety net.
    void run_until_read_ends()
    {
        while (!read_done_ && ctx_.run_one_for(20s) != 0) {
        }
        ASSERT_TRUE(read_done_) << "the read never ended";
    }

    /// Runs the loop until drained() completes; true if it did.
    bool run_until_drained()
    {
        bool drained = false;
        auto wait = [this, &drained]() -> asio::awaitable<void> {
            co_await conn_->drained();
            drained = true;
        };
        asio::co_spawn(ctx_, wait(), asio::detached);
        while (!drained && ctx_.run_one_for(20s) != 0) {
        }
        return drained;
    }

    asio::io_context ctx_{1};
    connection::socket_type client_{ctx_};
    std::shared_ptr<connection> conn_;
    std::array<char, 64> landing_{};
    std::optional<error_code> read_ec_;
    std::optional<clock::time_point> read_done_;
};

TEST_F(connection_timers, a_read_deadline_that_passes_closes_a_busy_connection)
{
    auto const due = clock::now() + 30ms;
    conn_->set_read_deadline(due);
    start_read();
    run_until_read_ends();
    EXPECT_EQ(*read_ec_, asio::error::operation_aborted);
    EXPECT_GE(*read_done_, due);
    EXPECT_TRUE(conn_->expired());
    EXPECT_FALSE(conn_->failed());
    EXPECT_FALSE(conn_->socket().is_open());
}

TEST_F(connection_timers, an_earlier_deadline_re_arms_the_timer)
{
    // Armed for ten seconds, then moved earlier: the earlier one fires.
    conn_->set_read_deadline(clock::now() + 10s);
    auto const due = clock::now() + 30ms;
    conn_->set_read_deadline(due);
    start_read();
    run_until_read_ends();
    EXPECT_EQ(*read_ec_, asio::error::operation_aborted);
    EXPECT_GE(*read_done_, due);
    EXPECT_LT(*read_done_, clock::now() + 10s);
    EXPECT_TRUE(conn_->expired());
}

TEST_F(connection_timers, a_later_deadline_is_checked_again_when_the_earlier_wait_ends)
{
    // The timer stays armed for the first deadline; when it fires, the later one stands.
    conn_->set_read_deadline(clock::now() + 20ms);
    auto const due = clock::now() + 150ms;
    conn_->set_read_deadline(due);
    start_read();
    run_until_read_ends();
    EXPECT_GE(*read_done_, due);
    EXPECT_TRUE(conn_->expired());
}

TEST_F(connection_timers, a_cleared_deadline_never_fires)
{
    conn_->set_read_deadline(clock::now() + 20ms);
    conn_->clear_read_deadline();
    start_read();
    // Past the old deadline, the read is still waiting; then the client's bytes end it.
    ctx_.run_for(100ms);
    EXPECT_FALSE(read_done_);
    asio::write(client_, asio::buffer(std::string_view{"x"}));
    run_until_read_ends();
    EXPECT_FALSE(*read_ec_);
    EXPECT_FALSE(conn_->expired());
    EXPECT_TRUE(conn_->socket().is_open());
}

TEST_F(connection_timers, an_idle_connection_past_its_deadline_has_its_read_cancelled_not_its_socket_closed)
{
    // Waiting for a request's first byte: the deadline cancels the read and leaves the
    // socket to the read's handler, which may still have got bytes.
    conn_->set_idle(true);
    auto const due = clock::now() + 30ms;
    conn_->set_read_deadline(due);
    start_read();
    run_until_read_ends();
    EXPECT_EQ(*read_ec_, asio::error::operation_aborted);
    EXPECT_GE(*read_done_, due);
    EXPECT_TRUE(conn_->expired());
    EXPECT_TRUE(conn_->socket().is_open());

    // Bytes that came in time earn a reprieve.
    conn_->reprieve();
    EXPECT_FALSE(conn_->expired());
}

TEST_F(connection_timers, a_peer_that_does_not_read_fails_the_write_at_its_deadline)
{
    // More than the socket buffers hold: the rest waits in one write in flight.
    conn_->output().assign(32 << 20, 'x');
    auto const started = clock::now();
    conn_->flush();
    ASSERT_GT(conn_->pending(), 0u);
    ASSERT_TRUE(run_until_drained());
    // The write timeout is 100 ms: it failed no earlier, and closed the connection.
    EXPECT_GE(clock::now(), started + 100ms);
    EXPECT_TRUE(conn_->failed());
    EXPECT_TRUE(conn_->expired());
    EXPECT_FALSE(conn_->socket().is_open());
}

TEST_F(connection_timers, output_that_the_peer_takes_leaves_nothing_pending)
{
    conn_->output().assign(1 << 20, 'y');
    conn_->flush();
    // The client reads it all while the loop writes the rest.
    std::string got(1 << 20, '\0');
    std::thread reader{[&] { asio::read(client_, asio::buffer(got)); }};
    bool const drained = run_until_drained();
    reader.join();
    EXPECT_TRUE(drained);
    EXPECT_EQ(conn_->pending(), 0u);
    EXPECT_FALSE(conn_->failed());
    EXPECT_EQ(got, std::string(1 << 20, 'y'));
}

TEST_F(connection_timers, a_write_to_a_reset_peer_fails_and_drops_the_output)
{
    // The client resets the connection; the server sees the reset on a read.
    client_.set_option(asio::socket_base::linger(true, 0));
    client_.close();
    std::array<char, 8> buf{};
    error_code ec;
    conn_->socket().non_blocking(false);
    conn_->socket().read_some(asio::buffer(buf), ec);
    ASSERT_EQ(ec, asio::error::connection_reset);
    conn_->socket().non_blocking(true);

    conn_->output().assign("HTTP/1.1 200 OK\r\n\r\n");
    conn_->flush();
    EXPECT_TRUE(conn_->failed());
    EXPECT_FALSE(conn_->expired());
    EXPECT_EQ(conn_->pending(), 0u);
}

TEST_F(connection_timers, close_cancels_the_deadline)
{
    conn_->set_read_deadline(clock::now() + 20ms);
    conn_->close();
    // The timer's wait ends cancelled: nothing expires.
    ctx_.run_for(100ms);
    EXPECT_FALSE(conn_->expired());
    EXPECT_FALSE(conn_->socket().is_open());
}

} // namespace
} // namespace cvp
