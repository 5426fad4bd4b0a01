#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cvp {

/// The execution models. The session and the handlers are the same in all of them. Each
/// has its row in the catalog (server/models/catalog.cpp), which names and describes it.
enum class mode
{
    single,   ///< one io_context on one thread: concurrency only
    reactors, ///< N io_contexts, one pinned thread each: shard-per-core parallelism
    offload,  ///< one I/O loop plus a bounded CPU pool
    pool,     ///< one io_context run by N threads, each connection on a strand
    threads,  ///< one thread per connection, blocking in its socket's reads and writes
};

/// How `reactors` spreads connections over its loops.
enum class accept_strategy
{
    round_robin, ///< one acceptor hands sockets to the loops in turn
    reuseport,   ///< one SO_REUSEPORT acceptor per loop; the kernel hashes connections
};

/// The model's name, from its catalog row.
std::string_view to_string(mode m) noexcept;
std::string_view to_string(accept_strategy a) noexcept;

/// Everything the server can be told. Defaults are the documented ones.
struct config
{
    cvp::mode mode = mode::reactors;
    /// Loops in `reactors`, threads in `pool`; 0 means "the usable CPUs".
    unsigned threads = 0;
    accept_strategy accept = accept_strategy::round_robin;
    /// Pin reactor or pool threads to CPUs of the allowed set; unset means the model's
    /// default: on in `reactors`, off in `pool`.
    std::optional<bool> pin;
    /// Stack size of each connection thread in `threads`.
    std::size_t thread_stack_bytes = 256 * 1024;
    /// CPU pool threads in `offload`; 0 means "the usable CPUs".
    unsigned pool_threads = 0;
    /// Tasks that may wait for a pool thread before requests get 503.
    std::size_t pool_queue = 256;
    /// Nice levels the pool threads run below the I/O loop, so that a loop woken by a
    /// timer or a socket gets a CPU sooner than it would beside equal-priority work.
    unsigned pool_nice = 10;

    std::string address = "127.0.0.1";
    std::uint16_t port = 8080;

    std::size_t max_connections = 10'000;
    std::uint32_t max_header_bytes = 8 * 1024;
    std::uint64_t max_body_bytes = 64 * 1024;

    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::milliseconds write_timeout{30'000};
    std::chrono::milliseconds drain_timeout{10'000};
    /// After a 503 for overload, how long before the connection's next request is read.
    std::chrono::milliseconds overload_pause{100};
    /// In a drain, how long a connection waiting for a request may still deliver one.
    std::chrono::milliseconds drain_grace{1'000};

    /// How often each event loop's lag timer fires.
    std::chrono::milliseconds lag_interval{10};
    /// A loop that has not come back to its event wait for this long is reported as
    /// stalled; 0 turns the watchdog off.
    std::chrono::milliseconds stall_threshold{100};
    /// Work intervals each worker's ring keeps for /stats/timeline; 0 (the default) means
    /// no recording at all.
    std::size_t timeline_events = 0;
    /// The Chart.js file /dashboard/chart.js serves: Debian's libjs-chart.js by default.
    std::string chart_js = "/usr/share/javascript/chart.js/chart.min.js";

    /// The downstream HTTP service /io/http calls (`--upstream http://HOST:PORT`); an empty
    /// host means none.
    std::string upstream_host;
    std::uint16_t upstream_port = 0;
    /// Connections each downstream pool may open, and calls that may wait for one.
    std::size_t upstream_connections = 64;
    std::size_t upstream_queue = 1024;
    std::chrono::milliseconds upstream_connect_timeout{1'000};
    /// From the moment a call has a connection (or starts waiting for one) to the whole answer.
    std::chrono::milliseconds upstream_timeout{30'000};
    std::uint64_t upstream_max_body = 1 << 20;

    /// PostgreSQL for /db/* (`--db`, a libpq connection string); empty means none.
    std::string db;
    /// Connections each database pool may open, and calls that may wait for one.
    std::size_t db_connections = 16;
    std::size_t db_queue = 1024;
    /// Time to open a database connection; from a call's start to its rows.
    std::chrono::milliseconds db_connect_timeout{2'000};
    std::chrono::milliseconds db_timeout{5'000};
};

/// What parsing the command line produced: a config to run, a request for help,
/// or an error message naming the flag at fault.
struct help_requested
{
};
/// `--list-models`: print the catalog as JSON and exit.
struct models_requested
{
};
struct config_error
{
    std::string message;
};
using parse_result = std::variant<config, help_requested, models_requested, config_error>;

/// Looks up an environment variable; empty when unset.
using env_lookup = std::function<std::optional<std::string>(std::string const&)>;

/// Reads `CVP_<FLAG>` variables first, then the flags in `args` (without argv[0]),
/// which override them. Accepts `--flag value` and `--flag=value`.
parse_result parse_config(std::vector<std::string> const& args, env_lookup const& env);

/// The process environment as an env_lookup.
env_lookup process_env();

/// The `--help` text: every flag, its variable, default and meaning.
std::string help_text();

/// Parses a duration: "250ms", "10s", "2m", or a bare number of milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Parses a size: "256K", "1M", or a bare number of bytes (k and m too).
std::optional<std::size_t> parse_size(std::string_view text);

} // namespace cvp
