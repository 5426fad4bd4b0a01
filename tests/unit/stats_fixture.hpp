#pragma once

/// The /stats document of docs/API.md, shared by the tests that consume /stats.

#include <nlohmann/json.hpp>

namespace cvp::test {

/// An `offload` server's /stats, as docs/API.md shows it (so `pool` is set).
inline nlohmann::json api_stats()
{
    return nlohmann::json::parse(R"({
      "mode": "offload", "accept": "round-robin", "draining": false, "uptime_s": 12.5,
      "cpu": {"allowed": [0, 1], "pinned": [], "cgroup": "v1", "quota_cpus": null, "usable": 2},
      "process": {"pid": 4242, "cpu_user_s": 1.25, "cpu_system_s": 0.5, "rss_bytes": 7340032},
      "workers": [
        {"id": 0, "role": "loop", "cpu": null, "requests": 10, "requests_in_flight": 1, "connections_open": 1,
         "connections_total": 3, "tasks": 0, "busy_ns": 0},
        {"id": 1, "role": "pool", "cpu": null, "requests": 0, "requests_in_flight": 0, "connections_open": 0,
         "connections_total": 0, "tasks": 7, "busy_ns": 70000000}
      ],
      "pool": {"threads": 2, "queue_capacity": 256, "queue_depth": 0, "running": 0,
               "completed": 7, "rejected": 0, "nice_below_loop": 10},
      "limits": {"max_connections": 10000, "max_header_bytes": 8192, "max_body_bytes": 65536,
                 "header_timeout_ms": 10000, "idle_timeout_ms": 60000, "write_timeout_ms": 30000,
                 "drain_timeout_ms": 10000},
      "totals": {"requests": 10, "requests_in_flight": 1, "connections_open": 1, "connections_total": 3,
                 "connections_rejected": 0}
    })");
}

} // namespace cvp::test
