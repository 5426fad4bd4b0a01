/// `threads`: one thread per connection, as Apache's worker MPM, classic servlet
/// containers and most blocking code. One loop accepts; each accepted connection gets a
/// thread of its own, which runs that connection's own io_context, so the session is the
/// same code as everywhere else. CPU and blocking work run on the connection's thread and
/// hold up only that connection. What it costs is memory and context switches per
/// connection, not CPU per request: a stack (--thread-stack) and an io_context, whose
/// epoll, eventfd and timerfd descriptors come on top of the socket's.

#include "server/models/event_loop.hpp"
#include "server/runners.hpp"

#include <boost/system/system_error.hpp>

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <list>
#include <mutex>
#include <optional>
#include <vector>

namespace cvp {

namespace {

class threads_model final : public execution_model
{
public:
    threads_model(model_services const& services, model_card const& card)
        : execution_model(card)
        , services_(services)
        , env_(make_loop_env(services, runner_, sessions_, name()))
        , acceptor_(services, runner_, name(), std::nullopt, true)
    {}

    /// Every connection has a thread that may run its work.
    unsigned parallelism() const noexcept override { return static_cast<unsigned>(services_.gate.cap()); }
    std::size_t threads_alive() const noexcept override { return 1 + alive_.load(std::memory_order_relaxed); }
    model_layout layout() const override { return model_layout{}; }
    /// The socket, and its io_context's epoll, eventfd and timerfd.
    std::size_t descriptors_per_connection() const noexcept override { return 4; }

    asio::any_io_executor acceptor_executor(std::size_t) override { return acceptor_.context().get_executor(); }

    bool accept_one(tcp::acceptor& acceptor, std::size_t, error_code& ec) override;
    void run() override;
    void stop() noexcept override;

    void begin_drain(std::chrono::steady_clock::time_point grace_deadline) override { sessions_.begin_drain(grace_deadline); }
    void close_all() override { sessions_.close_all(); }

private:
    /// A connection's thread: its io_context, and its place among the live ones.
    struct connection_thread
    {
        // Only its thread does I/O on it, once the accept has handed the socket over.
        asio::io_context ctx{one_thread_hint(true)};
        int worker = 0;
        worker_counters* counters = nullptr;
        std::list<connection_thread*>::iterator place;
    };

    /// True when a new connection's loop and socket would find descriptors.
    static bool room_for_a_loop(error_code& ec);
    /// Gives `t` a worker slot and a thread of its own; false when no thread could start.
    bool launch(std::unique_ptr<connection_thread>& t);
    /// The body of a connection's thread: runs its loop, then gives its slot back.
    void serve_and_end(std::unique_ptr<connection_thread> t);
    static void* thread_entry(void* arg);

    model_services services_;
    inline_runner runner_;
    session_registry sessions_;
    // Every connection's session shares one env: it holds nothing per thread.
    loop_env env_;
    event_loop acceptor_;

    std::mutex mutex_;
    std::condition_variable ended_;
    std::atomic<std::size_t> alive_{0};
    bool stopping_ = false;
    std::list<connection_thread*> live_;
    /// Worker ids of threads that have ended, handed to the next ones: the workers in
    /// /stats stay bounded by the most connections open at once.
    std::vector<int> free_workers_;
    /// The io_context for the next connection, made before the accept that fills it.
    std::unique_ptr<connection_thread> spare_;
};

bool threads_model::accept_one(tcp::acceptor& acceptor, std::size_t, error_code& ec)
{
    // Over the limit: the acceptor's own loop answers 503 and closes, with no thread made.
    if (!services_.gate.enter()) {
        auto socket = acceptor.accept(acceptor_.context().get_executor(), ec);
        if (ec)
            return false;
        services_.gate.count_rejected();
        refuse_connection(std::move(socket), acceptor_.env());
        return true;
    }

    // Straight onto the io_context of the thread that will serve it. Its reactor is made
    // with the first socket, and out of descriptors that throws (from inside Asio's
    // constructors) rather than failing: the room for it is tried first, so that running
    // out is an ordinary accept error.
    std::optional<connection::socket_type> socket;
    try {
        if (!spare_ && !room_for_a_loop(ec))
            ec = ec ? ec : asio::error::no_descriptors;
        if (!ec && !spare_)
            spare_ = std::make_unique<connection_thread>();
        if (!ec)
            socket.emplace(acceptor.accept(spare_->ctx.get_executor(), ec));
    } catch (boost::system::system_error const& e) {
        ec = e.code();
        spare_.reset();
    }
    if (ec || !socket) {
        services_.gate.leave();
        return false;
    }
    auto t = std::move(spare_);
    start_session(std::move(*socket), env_);
    if (!launch(t)) {
        // The session never started: dropping its loop closes the socket.
        t.reset();
        services_.gate.leave();
        services_.gate.count_rejected();
    }
    return true;
}

bool threads_model::room_for_a_loop(error_code& ec)
{
    // A loop's reactor takes three descriptors (epoll, eventfd, timerfd) and its socket a
    // fourth: open four, and give them back. Only this thread opens descriptors here.
    std::array<int, 4> probe{-1, -1, -1, -1};
    bool room = true;
    for (auto& fd : probe) {
        fd = ::eventfd(0, EFD_CLOEXEC);
        if (fd < 0) {
            ec = error_code{errno, asio::error::get_system_category()};
            room = false;
            break;
        }
    }
    for (auto fd : probe)
        if (fd >= 0)
            ::close(fd);
    return room;
}

bool threads_model::launch(std::unique_ptr<connection_thread>& t)
{
    // What the thread starts with, made before anything needs undoing.
    auto arg = std::make_unique<std::pair<threads_model*, connection_thread*>>(this, t.get());

    // A worker slot: one an ended thread left, or a new one.
    {
        std::lock_guard lock{mutex_};
        if (stopping_)
            return false;
        if (free_workers_.empty()) {
            t->worker = services_.stats.add(worker_kind::connection_thread);
        } else {
            t->worker = free_workers_.back();
            free_workers_.pop_back();
        }
        t->counters = &services_.stats.counters(t->worker);
        t->place = live_.insert(live_.end(), t.get());
        alive_.fetch_add(1, std::memory_order_relaxed);
    }

    // A detached thread with the stack size asked for; it owns `t` from here on.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, services_.cfg.thread_stack_bytes);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t id{};
    int const rc = pthread_create(&id, &attr, &thread_entry, arg.get());
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        arg.release();
        t.release();
        return true;
    }

    // No thread: give the slot back.
    std::cerr << "cvp-server: cannot start a connection thread: " << std::strerror(rc) << '\n';
    std::lock_guard lock{mutex_};
    live_.erase(t->place);
    free_workers_.push_back(t->worker);
    alive_.fetch_sub(1, std::memory_order_relaxed);
    ended_.notify_all();
    return false;
}

void* threads_model::thread_entry(void* arg)
{
    auto* start = static_cast<std::pair<threads_model*, connection_thread*>*>(arg);
    auto* model = start->first;
    std::unique_ptr<connection_thread> t{start->second};
    delete start;
    model->serve_and_end(std::move(t));
    return nullptr;
}

void threads_model::serve_and_end(std::unique_ptr<connection_thread> t)
{
    // Serve the one connection until its session ends, or until stop().
    enter_worker_thread(t->worker, *t->counters, "cvp-conn-" + std::to_string(t->worker), std::nullopt);
    t->ctx.run();

    // Out of reach of stop() first; then drop the loop, and with it anything left in it.
    auto const worker = t->worker;
    {
        std::lock_guard lock{mutex_};
        live_.erase(t->place);
    }
    t.reset();

    // The slot is free; the last thread to end wakes run().
    std::lock_guard lock{mutex_};
    free_workers_.push_back(worker);
    alive_.fetch_sub(1, std::memory_order_relaxed);
    ended_.notify_all();
}

void threads_model::run()
{
    // The acceptor's loop, then every connection's thread.
    acceptor_.start("cvp-loop-" + std::to_string(acceptor_.worker()));
    acceptor_.join();
    std::unique_lock lock{mutex_};
    ended_.wait(lock, [this] { return alive_.load(std::memory_order_relaxed) == 0; });
    spare_.reset();
}

void threads_model::stop() noexcept
{
    {
        std::lock_guard lock{mutex_};
        stopping_ = true;
        for (auto* t : live_)
            t->ctx.stop();
    }
    acceptor_.stop();
}

} // namespace

std::unique_ptr<execution_model> make_threads(model_services const& services, model_card const& card)
{
    return std::make_unique<threads_model>(services, card);
}

} // namespace cvp
