#include "server/connection.hpp"

#include "server/recycler.hpp"

#include <boost/asio/write.hpp>

namespace cvp {

namespace {

/// Output storage kept per thread for the next busy connection.
using output_recycler = recycler<std::string>;

/// Storage grown past this by an unusually large response is freed rather than kept.
constexpr std::size_t max_kept_output = 64 * 1024;

} // namespace

connection::connection(socket_type socket, std::optional<strand_type> strand, std::chrono::milliseconds write_timeout)
    : keep_loop_(socket.get_executor())
    , socket_(std::move(socket))
    , strand_(strand ? std::make_unique<strand_type>(std::move(*strand)) : nullptr)
    , timer_(socket_.get_executor())
    , write_timeout_(write_timeout)
{
    // Small responses leave at once instead of waiting for the peer's delayed ACK.
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    // Writes and reads are tried at once and only wait when the socket would block.
    socket_.non_blocking(true, ignored);
}

asio::any_io_executor connection::executor() const
{
    if (strand_)
        return *strand_;
    // get_executor() is not const in Asio, though it only copies.
    return const_cast<socket_type&>(socket_).get_executor();
}

void connection::set_read_deadline(clock::time_point t)
{
    read_deadline_ = t;
    arm();
}

void connection::arm()
{
    // While an idle connection's last answers are still being written, their write
    // deadline governs: a slow reader is not cut off by the wait for its next request.
    auto const due = idle_ && writing_ ? write_deadline_ : std::min(read_deadline_, write_deadline_);
    if (expired_ || due == clock::time_point::max())
        return;
    // A wait that ends sooner re-checks the deadlines when it does.
    if (armed_ && armed_for_ <= due)
        return;
    armed_ = true;
    armed_for_ = due;
    timer_.expires_at(due);
    start([this](auto handler) { timer_.async_wait(std::move(handler)); },
          [self = shared_from_this(), generation = ++generation_](error_code ec) { self->on_timer(ec, generation); });
}

void connection::on_timer(error_code ec, std::uint64_t generation)
{
    // A wait replaced by an earlier one, or cancelled at close.
    if (generation != generation_ || ec)
        return;
    armed_ = false;
    auto const now = clock::now();
    bool const write_late = write_deadline_ <= now;
    bool read_late = read_deadline_ <= now;
    // A connection waiting for a request whose first byte has just arrived is spared.
    if (read_late && idle_ && writing_) {
        read_late = false;
    } else if (read_late && idle_) {
        error_code ignored;
        read_late = socket_.available(ignored) == 0;
        // Its read may have taken bytes already, for a handler that has not run yet: cancel
        // the read and let that handler decide, closing only if it got nothing.
        if (read_late && !write_late) {
            expired_ = true;
            socket_.cancel(ignored);
            return;
        }
    }
    if (write_late || read_late) {
        expired_ = true;
        failed_ = failed_ || write_late;
        close();
        return;
    }
    arm();
}

std::string& connection::output()
{
    if (!queued_)
        queued_ = output_recycler::take();
    return *queued_;
}

std::size_t connection::pending() const noexcept
{
    return (queued_ ? queued_->size() : 0) + (in_flight_ ? in_flight_->size() - in_flight_offset_ : 0);
}

void connection::give_back(std::unique_ptr<std::string>& storage)
{
    if (!storage)
        return;
    storage->clear();
    if (storage->capacity() > max_kept_output)
        storage.reset();
    output_recycler::give(std::move(storage));
}

void connection::flush()
{
    if (writing_ || failed_ || !queued_ || queued_->empty())
        return;

    // Try to hand everything to the kernel now: the common case needs no wait at all.
    auto& out = *queued_;
    std::size_t sent = 0;
    error_code ec;
    while (sent < out.size()) {
        auto const n = socket_.write_some(asio::buffer(out.data() + sent, out.size() - sent), ec);
        if (ec)
            break;
        sent += n;
        worker_counters::bump(current_counters().writes);
    }
    if (sent == out.size()) {
        give_back(queued_);
        return;
    }
    if (ec != asio::error::would_block && ec != asio::error::try_again) {
        fail();
        return;
    }

    // The socket is full: the rest goes in one write in flight, under the write timeout.
    writing_ = true;
    in_flight_ = std::move(queued_);
    in_flight_offset_ = sent;
    write_deadline_ = clock::now() + write_timeout_;
    arm();
    auto rest = asio::buffer(in_flight_->data() + sent, in_flight_->size() - sent);
    start([this, rest](auto handler) { asio::async_write(socket_, rest, std::move(handler)); },
          [self = shared_from_this()](error_code wec, std::size_t) { self->on_written(wec); });
}

void connection::on_written(error_code ec)
{
    writing_ = false;
    write_deadline_ = clock::time_point::max();
    give_back(in_flight_);
    in_flight_offset_ = 0;
    if (ec) {
        fail();
        return;
    }
    worker_counters::bump(current_counters().writes);
    // What queued meanwhile leaves together, in the next write.
    flush();
    if (!writing_) {
        wake_waiters();
        // A read deadline that waited for the write counts again.
        arm();
    }
}

void connection::fail()
{
    failed_ = true;
    give_back(queued_);
    wake_waiters();
}

void connection::wake_waiters()
{
    if (waiter_)
        waiter_->cancel();
}

connection::timer_type& connection::waiter()
{
    if (!waiter_)
        waiter_ = std::make_unique<timer_type>(socket_.get_executor());
    return *waiter_;
}

asio::awaitable<void> connection::drained()
{
    while (writing_ && !failed_) {
        waiter().expires_at(clock::time_point::max());
        co_await waiter().async_wait(use_tuple);
    }
}

asio::awaitable<void> connection::pause(std::chrono::milliseconds duration)
{
    waiter().expires_after(duration);
    co_await waiter().async_wait(use_tuple);
}

void connection::close()
{
    error_code ignored;
    ++generation_;
    armed_ = false;
    timer_.cancel();
    wake_waiters();
    socket_.close(ignored);
}

} // namespace cvp
