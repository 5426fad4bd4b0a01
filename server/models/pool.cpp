/// `pool`: one io_context run by N threads, the usual Asio deployment and roughly what
/// Go's and Tokio's schedulers give. Any thread takes any ready connection, and CPU and
/// blocking work run inline on whichever thread runs that connection. Each connection's
/// steps run on its own strand, so they never overlap. Under uneven load it balances
/// where reactors cannot, at the price of shared state on the hot path: the scheduler's
/// lock, and cache lines that move between cores.

#include "server/models/event_loop.hpp"
#include "server/runners.hpp"

#include <boost/asio/strand.hpp>

#include <thread>
#include <vector>

namespace cvp {

namespace {

class pool_model final : public execution_model
{
public:
    pool_model(model_services const& services, model_card const& card)
        : execution_model(card)
        , thread_count_(threads_or_usable(services.cfg.threads, services.limits))
        , loop_(services, runner_, name(), static_cast<int>(thread_count_), "shared")
        , acceptor_strand_(asio::make_strand(loop_.context()))
    {
        // Workers are the pool's threads; the connections belong to the loop they share.
        bool const pin = services.cfg.pin.value_or(card.pin_by_default.value_or(false));
        for (unsigned i = 0; i < thread_count_; ++i) {
            auto const cpu = planned_cpu(pin, services.limits, i);
            auto const id = services.stats.add(worker_kind::pool_thread, cpu, false);
            threads_.push_back(planned_thread{id, &services.stats.counters(id), cpu, {}});
        }
        // One loop, whichever thread runs it: its lag is the pool's.
        std::vector<int> ids;
        for (auto const& t : threads_)
            ids.push_back(t.id);
        lag_.emplace(loop_.context(), services.stats.add_loop("shared loop", std::move(ids)), services.cfg.lag_interval);
    }

    unsigned parallelism() const noexcept override { return thread_count_; }
    std::size_t threads_alive() const noexcept override { return threads_.size(); }

    /// One downstream pool, shared by every thread as the loop is.
    std::vector<downstream_pool_snapshot> downstream_pools() const override
    {
        if (auto const* d = loop_.downstream())
            return {d->snapshot()};
        return {};
    }

    std::vector<downstream_pool_snapshot> database_pools() const override
    {
        if (auto const* d = loop_.database())
            return {d->snapshot()};
        return {};
    }

    model_layout layout() const override
    {
        model_layout l;
        l.threads = thread_count_;
        for (auto const& t : threads_)
            if (t.cpu)
                l.pinned.push_back(*t.cpu);
        return l;
    }

    // The acceptor has a strand of its own, as any other I/O object several threads reach.
    asio::any_io_executor acceptor_executor(std::size_t) override { return acceptor_strand_; }

    bool accept_one(tcp::acceptor& acceptor, std::size_t, error_code& ec) override
    {
        auto socket = acceptor.accept(loop_.context().get_executor(), ec);
        if (ec)
            return false;
        admit_session(std::move(socket), loop_.env(), asio::make_strand(loop_.context()));
        return true;
    }

    void run() override
    {
        // Every thread runs the one loop; each is a worker of its own for attribution.
        lag_->start();
        for (auto& t : threads_)
            t.thread = std::thread([this, &t] {
                enter_worker_thread(t.id, *t.counters, "cvp-pool-" + std::to_string(t.id), t.cpu);
                loop_.context().run();
                leave_current_worker();
            });
        for (auto& t : threads_)
            t.thread.join();
    }

    void stop() noexcept override { loop_.stop(); }

    void begin_drain(std::chrono::steady_clock::time_point grace_deadline) override { loop_.sessions().begin_drain(grace_deadline); }
    void close_all() override { loop_.sessions().close_all(); }

private:
    struct planned_thread
    {
        int id;
        worker_counters* counters;
        std::optional<int> cpu;
        std::thread thread;
    };

    unsigned thread_count_;
    inline_runner runner_;
    std::vector<planned_thread> threads_;
    session_loop loop_;
    asio::strand<asio::io_context::executor_type> acceptor_strand_;
    /// After the loop: its timer goes before the io_context does.
    std::optional<lag_monitor> lag_;
};

} // namespace

std::unique_ptr<execution_model> make_pool(model_services const& services, model_card const& card)
{
    return std::make_unique<pool_model>(services, card);
}

} // namespace cvp
