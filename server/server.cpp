#include "server/server.hpp"

#include "common/clock.hpp"
#include "handlers/router.hpp"
#include "server/delay_figures.hpp"
#include "server/session.hpp"

#include <boost/asio/post.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>

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

namespace {

/// --upstream, resolved; throws when its host does not resolve.
std::optional<downstream_target> resolve_or_throw(config const& cfg)
{
    std::string error;
    auto target = resolve_downstream(cfg, error);
    if (!error.empty())
        throw std::runtime_error(error);
    return target;
}

} // namespace

server::server(config cfg, cpu_limits limits)
    : cfg_(std::move(cfg))
    , limits_(std::move(limits))
    , started_ns_(monotonic_ns())
    , timeline_(cfg_.timeline_events > 0 ? std::make_unique<work_timeline>(cfg_.timeline_events) : nullptr)
    , upstream_(resolve_or_throw(cfg_))
    , db_(database_of(cfg_))
    , db_blocking_(db_ ? std::make_unique<sync_database>(*db_) : nullptr)
    , model_(make_model(model_services{cfg_, limits_, default_router(), *this, gate_, stats_, upstream_ ? &*upstream_ : nullptr,
                                       db_ ? &*db_ : nullptr, db_blocking_.get()}))
{
    // --max-connections until budget_connections() has counted the descriptors.
    budget_ =
        plan_connection_budget(cfg_.max_connections, model_->descriptors_per_connection(), std::numeric_limits<std::uint64_t>::max(), 0);
    gate_.set_cap(budget_.cap);
    if (cfg_.stall_threshold.count() > 0)
        watchdog_.emplace(stats_, cfg_.stall_threshold, cfg_.lag_interval);
}

server::~server()
{
    // Acceptors and signals live on the model's loops: they go before the model does.
    stop_loops();
    signals_.reset();
    acceptors_.clear();
}

void server::listen()
{
    tcp::endpoint endpoint{asio::ip::make_address(cfg_.address), cfg_.port};

    // One acceptor, or with reuseport one per loop on the same port.
    for (std::size_t i = 0; i < model_->acceptor_count(); ++i) {
        auto acceptor = std::make_unique<tcp::acceptor>(model_->acceptor_executor(i));
        open_acceptor(*acceptor, endpoint, model_->reuseport());
        // With --port 0 the first bind picks the port; the others must share it.
        endpoint = acceptor->local_endpoint();
        acceptors_.push_back(std::move(acceptor));
    }

    // Signals are read from here on (one that comes before run() waits there, blocked),
    // and their signalfd is open before budget_connections() counts what is open.
    signals_.emplace(model_->acceptor_executor(0));
}

connection_budget server::budget_connections(std::uint64_t open_files)
{
    // What is open now (the loops, the acceptors, what the process inherited) stays open.
    // The downstream pools' connections are the process's own too, each pool at its cap.
    auto const downstream = model_->downstream_pools().size() * (upstream_ ? cfg_.upstream_connections : 0) +
                            (model_->database_pools().size() + (db_ ? 1 : 0)) * (db_ ? cfg_.db_connections : 0);
    budget_ =
        plan_connection_budget(cfg_.max_connections, model_->descriptors_per_connection(), open_files, open_descriptors() + downstream);
    gate_.set_cap(budget_.cap);
    return budget_;
}

tcp::endpoint server::local_endpoint() const
{
    return acceptors_.front()->local_endpoint();
}

std::string server::startup_line() const
{
    auto const layout = model_->layout();
    std::ostringstream out;
    auto const ep = local_endpoint();
    out << "cvp-server mode=" << model_->name() << " threads=" << layout.threads << " accept=" << layout.accept
        << " pool_threads=" << layout.pool_threads << " pool_nice=" << layout.pool_nice
        << " pinned=" << (layout.pinned.empty() ? "none" : format_cpu_list(layout.pinned))
        << " allowed=" << format_cpu_list(limits_.allowed) << " cgroup=" << limits_.cgroup << " quota=";
    if (limits_.quota_cpus)
        out << *limits_.quota_cpus;
    else
        out << "none";
    out << " usable=" << limits_.usable << " parallelism=" << model_->parallelism() << " max_connections=" << gate_.cap()
        << " cap_from=" << (budget_.bound_by_open_files() ? "open-files" : "flag") << " listening=";
    if (ep.address().is_v6())
        out << '[' << ep.address().to_string() << ']';
    else
        out << ep.address().to_string();
    out << ':' << ep.port();
    return out.str();
}

int server::run()
{
    // Signals and accepting, on the acceptors' executors; then the model's threads, until
    // the drain or a second signal stops them.
    wait_for_signal();
    for (std::size_t i = 0; i < acceptors_.size(); ++i)
        asio::co_spawn(acceptors_[i]->get_executor(), accept_loop(i), on_coroutine_end);
    if (watchdog_)
        watchdog_->start();
    model_->run();
    return 0;
}

asio::awaitable<void> server::accept_loop(std::size_t i)
{
    auto& acceptor = *acceptors_[i];
    for (;;) {
        // Wait until a connection is queued, then take all that are.
        auto [ec] = co_await acceptor.async_wait(tcp::acceptor::wait_read, use_tuple);
        if (ec == asio::error::operation_aborted || !acceptor.is_open())
            co_return;
        if (!ec)
            ec = accept_queued(i);
        if (ec == asio::error::would_block || ec == asio::error::try_again || !acceptor.is_open())
            continue;
        // Out of descriptors or memory: say so, and back off instead of spinning.
        std::cerr << "cvp-server: accept: " << ec.message() << '\n';
        asio::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds{50}};
        co_await pause.async_wait(use_tuple);
    }
}

error_code server::accept_queued(std::size_t i)
{
    // Every connection already queued, before any of their sessions can run work inline
    // on a loop and hold the others up.
    error_code ec;
    while (model_->accept_one(*acceptors_[i], i, ec)) {
    }
    return ec;
}

void server::wait_for_signal()
{
    if (!signals_)
        signals_.emplace(model_->acceptor_executor(0));
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

    // Each acceptor, where it lives, takes what is queued and stops accepting. The last
    // one to finish shortens the wait of the idle sessions and arms the gate: the loops
    // stop when the last connection has closed.
    acceptors_open_.store(acceptors_.size(), std::memory_order_relaxed);
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        asio::post(acceptors_[i]->get_executor(), [this, i] {
            // What is queued was accepted by the kernel: serve it, then stop accepting.
            accept_queued(i);
            error_code ignored;
            acceptors_[i]->close(ignored);
            if (acceptors_open_.fetch_sub(1, std::memory_order_acq_rel) != 1)
                return;
            model_->begin_drain(gate_.grace_deadline());
            gate_.when_empty([this] {
                std::cerr << "cvp-server: drained\n";
                stop_loops();
            });
        });
    }
    asio::co_spawn(model_->acceptor_executor(0), enforce_drain_timeout(), on_coroutine_end);
}

asio::awaitable<void> server::enforce_drain_timeout()
{
    // Usually the gate stops the loops first, and this wait simply goes with them.
    asio::steady_timer deadline{co_await asio::this_coro::executor, cfg_.drain_timeout};
    co_await deadline.async_wait(use_tuple);

    // Past the deadline: cut what is left, and give the sessions a moment to unwind.
    std::cerr << "cvp-server: drain timeout: closing " << gate_.open() << " connection(s)\n";
    model_->close_all();
    deadline.expires_after(std::chrono::milliseconds{100});
    co_await deadline.async_wait(use_tuple);
    stop_loops();
}

void server::stop_loops()
{
    if (stopping_.exchange(true, std::memory_order_acq_rel))
        return;
    // The watchdog first: loops that stop ticking now are stopping, not stalled.
    if (watchdog_)
        watchdog_->stop();
    model_->stop();
}

namespace {

loop_snapshot snapshot_of(loop_health const& loop, std::int64_t now_ns)
{
    loop_snapshot l;
    l.name = loop.name();
    l.workers = loop.workers();
    l.lag = loop.since_start();
    l.lag_recent = loop.recent();
    l.lag_buckets = prometheus_buckets(loop.histogram());
    l.utilization = loop.utilization_since_start(now_ns);
    l.utilization_recent = loop.utilization_recent(now_ns);
    l.stalls = loop.stalls();
    if (auto const last = loop.last_stall(); last.seen_ns != 0) {
        l.last_stall_ms = last.stuck_ns / 1'000'000;
        l.last_stall_serving = last.serving;
    }
    return l;
}

} // namespace

stats_snapshot server::stats() const
{
    stats_snapshot s;
    s.mode = model_->name();
    s.description = model_->description();
    s.parallelism = model_->parallelism();
    s.threads_alive = model_->threads_alive();
    s.accept = model_->layout().accept;
    s.draining = draining();
    s.uptime_s = static_cast<double>(monotonic_ns() - started_ns_) / 1e9;

    // The CPUs, and where threads really got pinned.
    s.cpu.allowed = limits_.allowed;
    s.cpu.cgroup = limits_.cgroup;
    s.cpu.quota_cpus = limits_.quota_cpus;
    s.cpu.usable = limits_.usable;

    // The process as the kernel sees it.
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    s.process = {::getpid(), seconds(usage.ru_utime), seconds(usage.ru_stime), resident_bytes()};

    s.limits = {gate_.cap(),
                cfg_.max_header_bytes,
                cfg_.max_body_bytes,
                cfg_.header_timeout.count(),
                cfg_.idle_timeout.count(),
                cfg_.write_timeout.count(),
                cfg_.drain_timeout.count(),
                cfg_.drain_grace.count(),
                cfg_.thread_stack_bytes,
                budget_};

    // Workers, summed into totals as they are read.
    auto& t = s.totals;
    for (auto const& [info, c] : stats_.list()) {
        worker_snapshot w;
        w.id = info.id;
        w.kind = to_string(info.kind);
        if (auto p = c->pinned_cpu.load(std::memory_order_relaxed); p >= 0) {
            w.cpu = p;
            s.cpu.pinned.push_back(p);
        }
        w.requests = c->requests.load(std::memory_order_relaxed);
        w.responses = c->responses.load(std::memory_order_relaxed);
        w.writes = c->writes.load(std::memory_order_relaxed);
        w.tasks = c->tasks.load(std::memory_order_relaxed);
        w.busy_ns = c->busy_ns.load(std::memory_order_relaxed);
        auto const time = c->waits.read(monotonic_ns());
        w.lived_ns = time.lived_ns;
        w.event_wait_ns = time.waited_ns;
        worker_snapshot::connection_gauges g{c->connections_open.load(std::memory_order_relaxed),
                                             c->connections_total.load(std::memory_order_relaxed),
                                             c->requests_in_flight.load(std::memory_order_relaxed)};
        // Gauges raised on one thread and lowered on another wrap; their sum does not.
        t.requests += w.requests;
        t.responses += w.responses;
        t.writes += w.writes;
        t.connections_open += g.open;
        t.connections_total += g.total;
        t.requests_in_flight += g.requests_in_flight;
        if (info.owns_connections)
            w.connections = g;
        s.workers.push_back(w);
    }
    t.connections_rejected = gate_.rejected();

    // Each loop's lag, since start and lately, and its stalls.
    s.lag_interval_ms = cfg_.lag_interval.count();
    s.stall_threshold_ms = cfg_.stall_threshold.count();
    auto const now = monotonic_ns();
    for (auto const* loop : stats_.loops())
        s.loops.push_back(snapshot_of(*loop, now));
    s.pool = model_->pool();
    if (upstream_) {
        s.upstream = upstream_->origin;
        s.downstream_pools = model_->downstream_pools();
    }
    if (db_) {
        s.database_pools = model_->database_pools();
        s.database_pools.push_back(db_blocking_->snapshot());
    }
    return s;
}

} // namespace cvp
