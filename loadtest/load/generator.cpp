#include "loadtest/load/generator.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace cvp::load {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

/// Nanoseconds on the clock the timers use (CLOCK_MONOTONIC).
std::int64_t now_ns() noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}

clock::time_point at(std::int64_t ns) noexcept
{
    return clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds{ns})};
}

/// This process's user + system CPU seconds.
double process_cpu_s() noexcept
{
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// Lets the process open as many descriptors as its hard limit allows.
void raise_open_file_limit() noexcept
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

std::uint64_t to_us(std::int64_t ns) noexcept
{
    return ns > 0 ? static_cast<std::uint64_t>(ns / 1000) : 0;
}

std::int64_t seconds_ns(double s) noexcept
{
    return std::llround(s * 1e9);
}

} // namespace

generator::generator(run_options opts, asio::ip::tcp::endpoint server)
    : opts_(std::move(opts))
    , server_(server)
    , schedule_(opts_.arrival, opts_.rate, opts_.seed)
    , rotation_([&] {
        std::vector<std::uint64_t> w;
        for (auto const& u : opts_.urls)
            w.push_back(u.weight);
        return w;
    }())
{
    // Each URL's request, written once: a keep-alive GET.
    auto const host = opts_.host + ":" + std::to_string(opts_.port);
    for (auto const& u : opts_.urls)
        requests_.push_back("GET " + u.path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: cvp-load\r\n\r\n");
    // What the result says about the run before it starts.
    result_.target = origin_of(opts_);
    for (auto const& u : opts_.urls)
        result_.urls.push_back({u.path, u.weight, 0, 0});
    result_.arrival = opts_.arrival == arrival_kind::constant ? "constant" : "poisson";
    result_.seed = opts_.seed;
    result_.rate_asked = opts_.rate;
    result_.duration_s = opts_.duration_s;
    result_.warmup_s = opts_.warmup_s;
    result_.connections_allowed = opts_.max_connections;
    for (auto const& k : error_kinds())
        result_.errors[k] = 0;
}

bool generator::run(run_result& out, std::string& error)
{
    raise_open_file_limit();
    auto const cpu0 = process_cpu_s();
    auto const wall0 = now_ns();
    // The timeout sweep watches connects too, so it starts first.
    arm_sweep();
    // The first connections open before the clock starts; the schedule then starts.
    initial_pending_ = opts_.connections;
    for (std::size_t i = 0; i < opts_.connections; ++i)
        open_connection(wall0);
    if (initial_pending_ == 0)
        start_schedule();
    ioc_.run();
    // Not one connection opened: nothing could be sent.
    if (!started_ || result_.connections_opened == 0) {
        error = "cannot connect to " + result_.target;
        return false;
    }
    result_.cpu_s = process_cpu_s() - cpu0;
    result_.wall_s = static_cast<double>(now_ns() - wall0) / 1e9;
    // Behind: the generator itself could not keep its schedule. Its CPU share is no sign
    // of that: on this VM a generator on schedule at 40k/s already shows 100% (half of it
    // the hypervisor's interrupt enabling around each syscall).
    auto const lag_p99 = own_lag_.percentile(99);
    if (lag_p99 > result_.late_after_us) {
        result_.behind = true;
        result_.behind_reason = "the generator's own lag (due to dispatched) p99 was " + std::to_string(lag_p99) + " us, over " +
                                std::to_string(result_.late_after_us) + " us";
    }
    out = std::move(result_);
    return true;
}

void generator::start_schedule()
{
    started_ = true;
    start_ns_ = now_ns();
    measure_from_ns_ = start_ns_ + seconds_ns(opts_.warmup_s);
    measure_until_ns_ = measure_from_ns_ + seconds_ns(opts_.duration_s);
    next_due_ns_ = start_ns_ + schedule_.next();
    on_tick();
}

void generator::on_tick()
{
    if (finished_)
        return;
    auto const now = now_ns();
    // Every request due by now, in order.
    while (!schedule_done_ && next_due_ns_ <= now) {
        auto const measured = next_due_ns_ >= measure_from_ns_;
        if (measured) {
            ++result_.scheduled;
            own_lag_.record(to_us(now - next_due_ns_));
        }
        dispatch({next_due_ns_, static_cast<std::uint32_t>(rotation_.next()), measured}, now);
        next_due_ns_ = start_ns_ + schedule_.next();
        if (next_due_ns_ >= measure_until_ns_) {
            schedule_done_ = true;
            deadline_ns_ = measure_until_ns_ + seconds_ns(opts_.timeout_s);
        }
    }
    if (schedule_done_)
        return maybe_finish(now);
    // Then sleep until the next one.
    tick_.expires_at(at(next_due_ns_));
    tick_.async_wait([this](boost::system::error_code ec) {
        if (!ec)
            on_tick();
    });
}

void generator::dispatch(due_request r, std::int64_t now)
{
    // A free connection takes it at once.
    if (!idle_.empty()) {
        auto* c = idle_.back();
        idle_.pop_back();
        return send_on(*c, r, now);
    }
    // Otherwise it waits for a connection: a new one while the cap allows, else any in
    // the backlog; past that it is dropped, and counted.
    if (open_or_opening_ < opts_.max_connections) {
        backlog_.push_back(r);
        return open_connection(now);
    }
    if (backlog_.size() < opts_.backlog) {
        backlog_.push_back(r);
        return;
    }
    if (r.measured)
        ++result_.dropped;
}

void generator::send_on(load_connection& c, due_request r, std::int64_t now)
{
    in_flight_[c.id()] = r;
    ++busy_;
    if (r.measured) {
        // Sent: how long after its due time, and whether that was late.
        ++result_.sent;
        ++result_.urls[r.url].sent;
        auto const lag = now - r.due_ns;
        result_.send_lag.record(to_us(lag));
        if (to_us(lag) > result_.late_after_us)
            ++result_.late;
    }
    c.send(requests_[r.url], now);
}

void generator::on_exchange_done(load_connection& c, outcome o, unsigned status)
{
    if (finished_)
        return;
    --busy_;
    auto const now = now_ns();
    auto const r = *in_flight_[c.id()];
    in_flight_[c.id()].reset();
    if (r.measured) {
        if (o == outcome::answered) {
            // An answer: its latency from the due time and from the send.
            ++result_.completed;
            ++result_.urls[r.url].completed;
            ++result_.status[std::to_string(status)];
            if (status >= 400)
                ++result_.errors["status"];
            result_.latency.record(to_us(now - r.due_ns));
            result_.service.record(to_us(now - c.started_ns()));
        } else {
            ++result_.errors[std::string{outcome_name(o)}];
        }
    }
    if (c.reusable()) {
        release(c);
    } else {
        // The connection is gone; one waiting request may need another.
        forget(c);
        if (!backlog_.empty() && open_or_opening_ < opts_.max_connections)
            open_connection(now);
    }
    maybe_finish(now);
}

void generator::on_connected(load_connection& c, bool ok)
{
    if (finished_)
        return;
    auto const now = now_ns();
    if (ok) {
        ++result_.connections_opened;
        ++connected_;
        result_.connections_max_open = std::max<std::uint64_t>(result_.connections_max_open, connected_);
    } else {
        --open_or_opening_;
        closed_.push_back(&c);
    }
    // The connections opened before the schedule: it starts when the last has answered.
    if (!started_) {
        if (ok)
            idle_.push_back(&c);
        if (--initial_pending_ == 0) {
            if (connected_ == 0)
                return finish();
            start_schedule();
        }
        return;
    }
    if (ok)
        return release(c);
    // It could not open: the oldest waiting request fails with it.
    if (!backlog_.empty()) {
        auto const r = backlog_.front();
        backlog_.pop_front();
        if (r.measured)
            ++result_.errors["connect"];
    }
    if (!backlog_.empty() && open_or_opening_ < opts_.max_connections)
        open_connection(now);
    maybe_finish(now);
}

void generator::release(load_connection& c)
{
    // The oldest waiting request goes first.
    if (!backlog_.empty()) {
        auto const r = backlog_.front();
        backlog_.pop_front();
        return send_on(c, r, now_ns());
    }
    idle_.push_back(&c);
}

void generator::forget(load_connection& c)
{
    c.close();
    --open_or_opening_;
    --connected_;
    closed_.push_back(&c);
}

void generator::open_connection(std::int64_t now)
{
    load_connection* c = nullptr;
    // A closed connection's object first, else a new one.
    if (!closed_.empty()) {
        c = closed_.back();
        closed_.pop_back();
    } else {
        connections_.push_back(std::make_unique<load_connection>(ioc_, *this, connections_.size()));
        in_flight_.resize(connections_.size());
        c = connections_.back().get();
    }
    ++open_or_opening_;
    c->connect(server_, now);
}

void generator::arm_sweep()
{
    // A few times per timeout, at least every 100 ms.
    auto const period = std::clamp(seconds_ns(opts_.timeout_s) / 10, std::int64_t{1'000'000}, std::int64_t{100'000'000});
    sweep_timer_.expires_after(std::chrono::nanoseconds{period});
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || finished_)
            return;
        sweep();
        if (!finished_)
            arm_sweep();
    });
}

void generator::sweep()
{
    auto const now = now_ns();
    auto const limit = seconds_ns(opts_.timeout_s);
    // Whatever has waited past --timeout is closed; its handler reports the timeout.
    for (auto const& c : connections_)
        if (c->busy() && now - c->started_ns() > limit)
            c->expire();
    if (schedule_done_ && now >= deadline_ns_)
        finish();
}

void generator::maybe_finish(std::int64_t now)
{
    if (finished_ || !schedule_done_)
        return;
    if ((busy_ == 0 && backlog_.empty()) || now >= deadline_ns_)
        finish();
}

void generator::finish()
{
    finished_ = true;
    // What was due in the window and never came back.
    for (auto const& r : in_flight_)
        if (r && r->measured)
            ++result_.unfinished;
    for (auto const& r : backlog_)
        if (r.measured)
            ++result_.unfinished;
    tick_.cancel();
    sweep_timer_.cancel();
    for (auto const& c : connections_)
        c->close();
    ioc_.stop();
}

} // namespace cvp::load
