#pragma once

/// The /stats snapshot of docs/API.md's example (offload, so `pool` is set), shared by the
/// router and metrics tests.

#include "handlers/stats_snapshot.hpp"

namespace cvp::test {

inline stats_snapshot api_stats()
{
    stats_snapshot s;
    s.mode = "offload";
    s.description = "one event loop for I/O, CPU and blocking work handed to a bounded pool of threads";
    s.parallelism = 1;
    s.threads_alive = 2;
    s.accept = "round-robin";
    s.uptime_s = 12.5;
    s.cpu = {{0, 1}, {}, "v1", std::nullopt, 2};
    s.process = {4242, 1.25, 0.5, 7340032};
    s.limits = {10000, 8192, 65536, 10000, 60000, 30000, 10000, 1000, 262144, {10000, 10000, 20000, 26, 1}};
    worker_snapshot loop;
    loop.id = 0;
    loop.kind = "loop";
    loop.requests = 10;
    loop.responses = 10;
    loop.writes = 9;
    loop.lived_ns = 12'500'000'000;
    loop.event_wait_ns = 12'400'000'000;
    loop.connections = worker_snapshot::connection_gauges{1, 3, 1};
    worker_snapshot pool_thread;
    pool_thread.id = 1;
    pool_thread.kind = "pool-thread";
    pool_thread.tasks = 7;
    pool_thread.busy_ns = 70000000;
    pool_thread.lived_ns = 12'500'000'000;
    pool_thread.event_wait_ns = 12'430'000'000;
    s.workers = {loop, pool_thread};
    lag_snapshot const queue_wait{7, 4, 6, 21, 21, 8.0};
    s.pool = pool_snapshot{1, 256, 0, 0, 7, 0, 10, queue_wait, {{{0.0001, 7}, {10, 7}}, 0.000056}};
    s.totals = {10, 1, 1, 3, 10, 9, 0};
    return s;
}

} // namespace cvp::test
