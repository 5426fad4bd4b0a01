#include "server/server.hpp"

#include "common/clock.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace cvp {

namespace {

/// SO_REUSEPORT, which Asio has no named option for.
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

/// Opens, binds and listens.
void open_acceptor(tcp::acceptor& acceptor, tcp::endpoint const& endpoint, bool reuseport)
{
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    if (reuseport)
        acceptor.set_option(reuse_port(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    // accept_queued() takes what is queued without waiting.
    acceptor.non_blocking(true);
}

/// Resident set size from /proc/self/statm.
std::uint64_t resident_bytes()
{
    std::ifstream statm{"/proc/self/statm"};
    std::uint64_t pages = 0;
    std::uint64_t resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

double seconds(timeval const& tv)
{
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

} // namespace

std::uint64_t raise_open_file_limit()
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
        ::getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur;
}

server::server(config cfg, cpu_limits limits)
    : cfg_(std::move(cfg))
    , limits_(std::move(limits))
    , started_ns_(monotonic_ns())
{
    auto const usable = static_cast<unsigned>(limits_.usable);

    // How many loops, and whether each has a CPU of its own.
    unsigned loop_count = 1;
    if (cfg_.mode == mode::reactors)
        loop_count = cfg_.threads != 0 ? cfg_.threads : usable;
    unsigned const pool_threads = cfg_.mode == mode::offload ? (cfg_.pool_threads != 0 ? cfg_.pool_threads : usable) : 0;

    // Workers: loops first, then pool threads.
    std::vector<worker_info> workers;
    for (unsigned i = 0; i < loop_count; ++i) {
        worker_info w{static_cast<int>(i), "loop", std::nullopt};
        if (cfg_.mode == mode::reactors && cfg_.pin && !limits_.allowed.empty())
            w.cpu = limits_.allowed[i % limits_.allowed.size()];
        workers.push_back(w);
    }
    for (unsigned i = 0; i < pool_threads; ++i)
        workers.push_back(worker_info{static_cast<int>(loop_count + i), "pool", std::nullopt});
    stats_ = std::make_unique<stats_registry>(workers);

    // The pool, when the model has one; every loop's handlers then use it.
    if (pool_threads > 0)
        pool_ = std::make_unique<offload_pool>(*stats_, static_cast<int>(loop_count), pool_threads, cfg_.pool_queue, cfg_.pool_nice);

    // The loops, each with its own runner unless work goes to the pool.
    for (unsigned i = 0; i < loop_count; ++i) {
        auto l = std::make_unique<loop>();
        l->planned_cpu = workers[i].cpu;
        work_runner* runner = pool_.get();
        if (runner == nullptr) {
            l->own_runner = std::make_unique<inline_runner>(*stats_);
            runner = l->own_runner.get();
        }
        l->env = std::unique_ptr<loop_env>(new loop_env{cfg_, default_router(), *this, *runner, stats_->counters(static_cast<int>(i)),
                                                        l->sessions, gate_, to_string(cfg_.mode), static_cast<int>(i)});
        loops_.push_back(std::move(l));
    }
}

server::~server()
{
    stop_loops();
    for (auto& l : loops_)
        if (l->thread.joinable())
            l->thread.join();
    if (pool_)
        pool_->stop();
}

void server::listen()
{
    tcp::endpoint endpoint{asio::ip::make_address(cfg_.address), cfg_.port};
    bool const reuseport = cfg_.mode == mode::reactors && cfg_.accept == accept_strategy::reuseport;

    // One acceptor on loop 0, or with reuseport one per loop on the same port.
    auto const acceptors = reuseport ? loops_.size() : 1;
    for (std::size_t i = 0; i < acceptors; ++i) {
        auto& l = *loops_[i];
        l.acceptor.emplace(l.ctx);
        open_acceptor(*l.acceptor, endpoint, reuseport);
        // With --port 0 the first bind picks the port; the others must share it.
        endpoint = l.acceptor->local_endpoint();
    }
}

tcp::endpoint server::local_endpoint() const
{
    return loops_.front()->acceptor->local_endpoint();
}

std::string server::startup_line() const
{
    std::vector<int> pinned;
    for (auto const& l : loops_)
        if (l->planned_cpu)
            pinned.push_back(*l->planned_cpu);

    std::ostringstream out;
    auto const ep = local_endpoint();
    out << "cvp-server mode=" << to_string(cfg_.mode) << " threads=" << loops_.size()
        << " accept=" << (cfg_.mode == mode::reactors ? to_string(cfg_.accept) : "round-robin")
        << " pool_threads=" << (pool_ ? pool_->read().threads : 0) << " pool_nice=" << (pool_ ? cfg_.pool_nice : 0u)
        << " pinned=" << (pinned.empty() ? "none" : format_cpu_list(pinned)) << " allowed=" << format_cpu_list(limits_.allowed)
        << " cgroup=" << limits_.cgroup << " quota=";
    if (limits_.quota_cpus)
        out << *limits_.quota_cpus;
    else
        out << "none";
    out << " usable=" << limits_.usable << " listening=";
    if (ep.address().is_v6())
        out << '[' << ep.address().to_string() << ']';
    else
        out << ep.address().to_string();
    out << ':' << ep.port();
    return out.str();
}

int server::run()
{
    // The pool first, so work can be handed to it from the first request on.
    if (pool_)
        pool_->start();

    // Signals and accepting, on the loops that own the acceptors.
    wait_for_signal();
    for (std::size_t i = 0; i < loops_.size(); ++i)
        if (loops_[i]->acceptor)
            asio::co_spawn(loops_[i]->ctx, accept_loop(*loops_[i]->acceptor, i), on_coroutine_end);

    // One thread per loop; in reactors each is pinned to its own CPU.
    for (std::size_t i = 0; i < loops_.size(); ++i) {
        auto& l = *loops_[i];
        l.thread = std::thread([&l, i] {
            set_current_worker(static_cast<int>(i));
            name_current_thread("cvp-loop-" + std::to_string(i));
            if (l.planned_cpu) {
                if (pin_current_thread(*l.planned_cpu))
                    l.pinned_cpu.store(*l.planned_cpu, std::memory_order_relaxed);
                else
                    std::cerr << "cvp-server: could not pin loop " << i << " to CPU " << *l.planned_cpu << '\n';
            }
            l.ctx.run();
        });
    }
    for (auto& l : loops_)
        l->thread.join();

    // Loops are done; let the pool finish what it runs.
    if (pool_)
        pool_->stop();
    return 0;
}

void server::start_session(loop& target, connection::socket_type socket)
{
    // Over the limit: answer 503 and close, rather than queueing without bound.
    if (!gate_.enter(cfg_.max_connections)) {
        connections_rejected_.fetch_add(1, std::memory_order_relaxed);
        refuse_connection(std::move(socket), *target.env);
        return;
    }
    cvp::start_session(std::move(socket), *target.env);
}

server::loop& server::next_target(std::size_t acceptor_loop)
{
    bool const round_robin = !(cfg_.mode == mode::reactors && cfg_.accept == accept_strategy::reuseport);
    return round_robin ? *loops_[next_loop_ % loops_.size()] : *loops_[acceptor_loop];
}

void server::accepted_onto(loop& target, connection::socket_type socket)
{
    // The turn moves only with a connection, not with an accept that found none queued.
    ++next_loop_;
    start_session(target, std::move(socket));
}

asio::awaitable<void> server::accept_loop(tcp::acceptor& acceptor, std::size_t own_loop)
{
    for (;;) {
        // Accept straight onto the loop that will serve the connection.
        auto& target = next_target(own_loop);
        auto [ec, socket] = co_await acceptor.async_accept(target.ctx.get_executor(), use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open())
                co_return;
            // Out of descriptors or memory: say so, and back off instead of spinning.
            std::cerr << "cvp-server: accept: " << ec.message() << '\n';
            asio::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds{50}};
            co_await pause.async_wait(use_tuple);
            continue;
        }
        accepted_onto(target, std::move(socket));
        // Then every connection already queued, before any of their sessions can run
        // work inline on this loop and hold the others up.
        accept_queued(own_loop);
    }
}

void server::accept_queued(std::size_t acceptor_loop)
{
    auto& acceptor = *loops_[acceptor_loop]->acceptor;
    for (;;) {
        auto& target = next_target(acceptor_loop);
        error_code ec;
        auto socket = acceptor.accept(target.ctx.get_executor(), ec);
        if (ec)
            return;
        accepted_onto(target, std::move(socket));
    }
}

void server::wait_for_signal()
{
    auto& first = *loops_.front();
    if (!signals_)
        signals_.emplace(first.ctx, SIGINT, SIGTERM);
    signals_->async_wait([this](error_code ec, int sig) {
        if (ec)
            return;
        if (draining()) {
            // A second signal: stop waiting for in-flight work.
            std::cerr << "cvp-server: signal " << sig << " again, stopping now\n";
            stop_loops();
            return;
        }
        drain();
        wait_for_signal();
    });
}

void server::drain()
{
    if (draining_.exchange(true, std::memory_order_acq_rel))
        return;
    std::cerr << "cvp-server: draining " << gate_.open() << " connection(s), at most " << cfg_.drain_timeout.count() << " ms\n";

    // From now on, sessions that wait for a request wait at most until the grace deadline.
    gate_.begin_drain(std::chrono::steady_clock::now() + cfg_.drain_grace);

    // Each loop, on its own thread, takes what is queued on its acceptor, stops
    // accepting, and shortens the wait of its idle sessions. The last one to finish arms
    // the gate: the loops stop when the last connection has closed.
    loops_accepting_.store(loops_.size(), std::memory_order_relaxed);
    for (std::size_t i = 0; i < loops_.size(); ++i) {
        asio::post(loops_[i]->ctx, [this, i] {
            auto& l = *loops_[i];
            // What is queued was accepted by the kernel: serve it, then stop accepting.
            if (l.acceptor) {
                accept_queued(i);
                error_code ignored;
                l.acceptor->close(ignored);
            }
            l.sessions.begin_drain(gate_.grace_deadline());
            if (loops_accepting_.fetch_sub(1, std::memory_order_acq_rel) == 1)
                gate_.when_empty([this] {
                    std::cerr << "cvp-server: drained\n";
                    stop_loops();
                });
        });
    }
    asio::co_spawn(loops_.front()->ctx, enforce_drain_timeout(), on_coroutine_end);
}

asio::awaitable<void> server::enforce_drain_timeout()
{
    // Usually the gate stops the loops first, and this wait simply goes with them.
    asio::steady_timer deadline{co_await asio::this_coro::executor, cfg_.drain_timeout};
    co_await deadline.async_wait(use_tuple);

    // Past the deadline: cut what is left, and give the sessions a moment to unwind.
    std::cerr << "cvp-server: drain timeout: closing " << gate_.open() << " connection(s)\n";
    for (auto& l : loops_)
        asio::post(l->ctx, [&l = *l] { l.sessions.close_all(); });
    deadline.expires_after(std::chrono::milliseconds{100});
    co_await deadline.async_wait(use_tuple);
    stop_loops();
}

void server::stop_loops()
{
    if (stopping_.exchange(true, std::memory_order_acq_rel))
        return;
    for (auto& l : loops_) {
        l->guard.reset();
        l->ctx.stop();
    }
}

nlohmann::json server::stats() const
{
    using json = nlohmann::json;

    // Workers, summed into totals as they are read.
    json workers = json::array();
    json pinned = json::array();
    std::uint64_t requests = 0;
    std::uint64_t in_flight = 0;
    std::uint64_t open = 0;
    std::uint64_t total = 0;
    std::uint64_t responses = 0;
    std::uint64_t writes = 0;
    for (auto const& info : stats_->workers()) {
        auto& c = stats_->counters(info.id);
        json cpu = nullptr;
        if (static_cast<std::size_t>(info.id) < loops_.size()) {
            if (auto p = loops_[static_cast<std::size_t>(info.id)]->pinned_cpu.load(std::memory_order_relaxed); p >= 0) {
                cpu = p;
                pinned.push_back(p);
            }
        }
        json w{{"id", info.id},
               {"role", info.role},
               {"cpu", cpu},
               {"requests", c.requests.load(std::memory_order_relaxed)},
               {"requests_in_flight", c.requests_in_flight.load(std::memory_order_relaxed)},
               {"connections_open", c.connections_open.load(std::memory_order_relaxed)},
               {"connections_total", c.connections_total.load(std::memory_order_relaxed)},
               {"tasks", c.tasks.load(std::memory_order_relaxed)},
               {"responses", c.responses.load(std::memory_order_relaxed)},
               {"writes", c.writes.load(std::memory_order_relaxed)},
               {"busy_ns", c.busy_ns.load(std::memory_order_relaxed)}};
        requests += w["requests"].get<std::uint64_t>();
        in_flight += w["requests_in_flight"].get<std::uint64_t>();
        open += w["connections_open"].get<std::uint64_t>();
        total += w["connections_total"].get<std::uint64_t>();
        responses += w["responses"].get<std::uint64_t>();
        writes += w["writes"].get<std::uint64_t>();
        workers.push_back(std::move(w));
    }

    json pool = nullptr;
    if (pool_) {
        auto const p = pool_->read();
        pool = json{{"threads", p.threads},
                    {"queue_capacity", p.queue_capacity},
                    {"queue_depth", p.queue_depth},
                    {"running", p.running},
                    {"completed", p.completed},
                    {"rejected", p.rejected},
                    {"nice_below_loop", p.nice_below_loop}};
    }

    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);

    return json{
        {"mode", to_string(cfg_.mode)},
        {"accept", cfg_.mode == mode::reactors ? to_string(cfg_.accept) : "round-robin"},
        {"draining", draining()},
        {"uptime_s", static_cast<double>(monotonic_ns() - started_ns_) / 1e9},
        {"cpu",
         {{"allowed", limits_.allowed},
          {"pinned", pinned},
          {"cgroup", limits_.cgroup},
          {"quota_cpus", limits_.quota_cpus ? json(*limits_.quota_cpus) : json(nullptr)},
          {"usable", limits_.usable}}},
        {"process",
         {{"pid", ::getpid()},
          {"cpu_user_s", seconds(usage.ru_utime)},
          {"cpu_system_s", seconds(usage.ru_stime)},
          {"rss_bytes", resident_bytes()}}},
        {"limits",
         {{"max_connections", cfg_.max_connections},
          {"max_header_bytes", cfg_.max_header_bytes},
          {"max_body_bytes", cfg_.max_body_bytes},
          {"header_timeout_ms", cfg_.header_timeout.count()},
          {"idle_timeout_ms", cfg_.idle_timeout.count()},
          {"write_timeout_ms", cfg_.write_timeout.count()},
          {"drain_timeout_ms", cfg_.drain_timeout.count()},
          {"drain_grace_ms", cfg_.drain_grace.count()}}},
        {"workers", std::move(workers)},
        {"pool", std::move(pool)},
        {"totals",
         {{"requests", requests},
          {"requests_in_flight", in_flight},
          {"connections_open", open},
          {"connections_total", total},
          {"responses", responses},
          {"writes", writes},
          {"connections_rejected", connections_rejected_.load(std::memory_order_relaxed)}}},
    };
}

} // namespace cvp
