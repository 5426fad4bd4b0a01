#include "server/models/event_loop.hpp"

#include <iostream>

namespace cvp {

void enter_worker_thread(int id, worker_counters& counters, std::string const& name, std::optional<int> cpu)
{
    set_current_worker(id, counters);
    name_current_thread(name);
    if (!cpu)
        return;
    if (pin_current_thread(*cpu))
        counters.pinned_cpu.store(*cpu, std::memory_order_relaxed);
    else
        std::cerr << "cvp-server: could not pin " << name << " to CPU " << *cpu << '\n';
}

event_loop::event_loop(model_services const& services, work_runner& runner, std::string_view mode, std::optional<int> cpu, bool private_io,
                       bool calls_downstream)
    : worker_(services.stats.add(worker_kind::loop, cpu, true))
    , counters_(services.stats.counters(worker_))
    , planned_cpu_(cpu)
    , loop_(services, runner, mode, one_thread_hint(private_io),
            calls_downstream ? std::optional<std::string>{"loop " + std::to_string(worker_)} : std::nullopt)
    , lag_(loop_.context(), services.stats.add_loop("loop " + std::to_string(worker_), {worker_}), services.cfg.lag_interval)
{}

void event_loop::start(std::string name)
{
    lag_.start();
    thread_ = std::thread([this, name = std::move(name)] {
        enter_worker_thread(worker_, counters_, name, planned_cpu_);
        loop_.context().run();
        leave_current_worker();
    });
}

void event_loop::stop() noexcept
{
    loop_.stop();
}

void event_loop::join()
{
    if (thread_.joinable())
        thread_.join();
}

} // namespace cvp
