/// `threads`: one thread per connection, as Apache's worker MPM, classic servlet
/// containers and most blocking code. One loop accepts; each accepted connection gets a
/// thread of its own, which blocks in poll(), recv() and send() on that connection's
/// socket and runs the same exchange as every other model (server/blocking_session.hpp).
/// CPU and blocking work run on the connection's thread and hold up only that
/// connection; a downstream wait blocks it. What it costs is a stack (--thread-stack)
/// and context switches per connection, not CPU per request, and one descriptor, the
/// socket: the drain and the close reach blocked threads through two eventfds that all
/// of them share.

#include "server/blocking_session.hpp"
#include "server/database_blocking.hpp"
#include "server/downstream_blocking.hpp"
#include "server/models/event_loop.hpp"
#include "server/runners.hpp"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

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
        , acceptor_(services, runner_, name(), std::nullopt, true, false)
    {
        // One pool of blocking downstream connections, shared by every connection thread.
        if (services.upstream) {
            downstream_ = std::make_unique<blocking_downstream>(*services.upstream, blocking_transport{*services.upstream}, "shared");
            env_.downstream = downstream_.get();
        }
        // And one of blocking database connections.
        if (services.db) {
            database_ =
                std::make_unique<blocking_database>(*services.db, blocking_pg_transport{*services.db}, "shared", *services.db_blocking);
            env_.database = database_.get();
        }
    }

    /// Every connection has a thread that may run its work.
    unsigned parallelism() const noexcept override { return static_cast<unsigned>(services_.gate.cap()); }
    std::size_t threads_alive() const noexcept override { return 1 + alive_.load(std::memory_order_relaxed); }
    model_layout layout() const override { return model_layout{}; }

    std::vector<downstream_pool_snapshot> downstream_pools() const override
    {
        if (downstream_)
            return {downstream_->snapshot()};
        return {};
    }

    std::vector<downstream_pool_snapshot> database_pools() const override
    {
        if (database_)
            return {database_->snapshot()};
        return {};
    }

    asio::any_io_executor acceptor_executor(std::size_t) override { return acceptor_.context().get_executor(); }

    bool accept_one(tcp::acceptor& acceptor, std::size_t, error_code& ec) override;
    void run() override;
    void stop() noexcept override;

    /// Wakes every thread waiting for a request, which then waits until the grace deadline
    /// at most; one eventfd, however many threads.
    void begin_drain(std::chrono::steady_clock::time_point) override { signals_.drain(); }
    void close_all() override { signals_.close(); }

private:
    /// A connection's thread: its socket, and its place among the live ones.
    struct connection_thread
    {
        int fd = -1;
        int worker = 0;
        worker_counters* counters = nullptr;
        std::list<connection_thread*>::iterator place;
    };

    /// Gives `t` a worker slot and a thread of its own; false when no thread could start.
    bool launch(std::unique_ptr<connection_thread>& t);
    /// The body of a connection's thread: serves its connection, then gives its slot back.
    void serve_and_end(std::unique_ptr<connection_thread> t);
    static void* thread_entry(void* arg);

    model_services services_;
    drain_signals signals_;
    thread_runner runner_{signals_};
    /// Connection threads call the downstream through it; it outlives them (stop() joins them).
    std::unique_ptr<blocking_downstream> downstream_;
    std::unique_ptr<blocking_database> database_;
    /// Only the acceptor's refusals are asynchronous; connection threads enlist nowhere.
    session_registry sessions_;
    // Every connection's thread shares one env: it holds nothing per thread.
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

    // A plain descriptor for the thread that will serve it: no loop registers it.
    // A connection reset while queued, or a signal, is no reason to stop: the next one.
    int fd = -1;
    do
        fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0) {
        ec = errno == EAGAIN ? error_code{asio::error::would_block} : error_code{errno, asio::error::get_system_category()};
        services_.gate.leave();
        return false;
    }
    auto t = std::make_unique<connection_thread>();
    t->fd = fd;
    if (!launch(t)) {
        // No thread to serve it: closed unanswered, and counted as refused.
        ::close(fd);
        services_.gate.leave();
        services_.gate.count_rejected();
    }
    return true;
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
    // Serve the one connection until it ends, or until the close signal.
    enter_worker_thread(t->worker, *t->counters, "cvp-conn-" + std::to_string(t->worker), std::nullopt);
    serve_on_this_thread(t->fd, env_, signals_);
    leave_current_worker();

    // The slot is free; the last thread to end wakes run().
    std::lock_guard lock{mutex_};
    live_.erase(t->place);
    free_workers_.push_back(t->worker);
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
}

void threads_model::stop() noexcept
{
    // No thread starts from here on, and every one blocked in a wait closes its connection.
    {
        std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    signals_.close();
    acceptor_.stop();
}

} // namespace

std::unique_ptr<execution_model> make_threads(model_services const& services, model_card const& card)
{
    return std::make_unique<threads_model>(services, card);
}

} // namespace cvp
