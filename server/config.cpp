#include "server/config.hpp"

#include "server/models/catalog.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace cvp {

std::string_view to_string(mode m) noexcept
{
    return model_card_of(m).name;
}

std::string_view to_string(accept_strategy a) noexcept
{
    switch (a) {
    case accept_strategy::round_robin: return "round-robin";
    case accept_strategy::reuseport: return "reuseport";
    }
    return "unknown";
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text)
{
    // Split the number from its unit.
    auto const digits = std::find_if_not(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
    auto const number = text.substr(0, static_cast<std::size_t>(digits - text.begin()));
    auto const unit = text.substr(number.size());
    if (number.empty())
        return std::nullopt;
    std::uint64_t value = 0;
    if (auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), value); ec != std::errc{})
        return std::nullopt;

    // Scale, refusing anything beyond a day: no timeout here needs more.
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "ms")
        scale = 1;
    else if (unit == "s")
        scale = 1000;
    else if (unit == "m")
        scale = 60'000;
    else
        return std::nullopt;
    constexpr std::uint64_t max_ms = 24ULL * 3600 * 1000;
    if (value > max_ms / scale)
        return std::nullopt;
    return std::chrono::milliseconds{static_cast<std::int64_t>(value * scale)};
}

std::optional<std::size_t> parse_size(std::string_view text)
{
    // Split the number from its unit.
    auto const digits = std::find_if_not(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
    auto const number = text.substr(0, static_cast<std::size_t>(digits - text.begin()));
    auto const unit = text.substr(number.size());
    std::uint64_t value = 0;
    if (number.empty() || std::from_chars(number.data(), number.data() + number.size(), value).ec != std::errc{})
        return std::nullopt;

    // Scale, refusing what would overflow.
    std::uint64_t scale = 0;
    if (unit.empty())
        scale = 1;
    else if (unit == "K" || unit == "k")
        scale = 1024;
    else if (unit == "M" || unit == "m")
        scale = 1024 * 1024;
    else
        return std::nullopt;
    if (value > std::numeric_limits<std::size_t>::max() / scale)
        return std::nullopt;
    return static_cast<std::size_t>(value * scale);
}

namespace {

/// Parses an unsigned integer within [lo, hi].
template <class T>
std::optional<T> parse_bounded(std::string_view text, std::uint64_t lo, std::uint64_t hi)
{
    std::uint64_t value = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || p != text.data() + text.size() || value < lo || value > hi)
        return std::nullopt;
    return static_cast<T>(value);
}

/// One flag: its name, what it means, and how it is applied.
struct flag
{
    std::string_view name;
    std::string_view value_hint;
    std::string_view default_text;
    std::string_view help;
    /// Applies a value; returns an error message describing the accepted values, or empty.
    std::string (*apply)(config&, std::string_view);
    /// The accepted values, where a list elsewhere holds them: --help puts them after `help`.
    std::string (*choices)() = nullptr;
};

template <class T, std::uint64_t Lo, std::uint64_t Hi, T config::*Member>
std::string set_number(config& c, std::string_view v)
{
    auto parsed = parse_bounded<T>(v, Lo, Hi);
    if (!parsed)
        return "expects an integer from " + std::to_string(Lo) + " to " + std::to_string(Hi);
    c.*Member = *parsed;
    return {};
}

template <std::chrono::milliseconds config::*Member>
std::string set_duration(config& c, std::string_view v)
{
    auto parsed = parse_duration(v);
    if (!parsed || parsed->count() == 0)
        return "expects a positive duration such as 500ms, 10s or 2m";
    c.*Member = *parsed;
    return {};
}

/// A duration within [1 ms, 1 s]: the lag timer's interval.
std::string set_lag_interval(config& c, std::string_view v)
{
    auto parsed = parse_duration(v);
    if (!parsed || *parsed < std::chrono::milliseconds{1} || *parsed > std::chrono::seconds{1})
        return "expects a duration from 1ms to 1s, such as 10ms";
    c.lag_interval = *parsed;
    return {};
}

/// A duration, or 0 (or "off") for none: the stall watchdog's threshold.
std::string set_stall_threshold(config& c, std::string_view v)
{
    if (v == "0" || v == "off") {
        c.stall_threshold = std::chrono::milliseconds{0};
        return {};
    }
    auto parsed = parse_duration(v);
    if (!parsed || parsed->count() == 0 || *parsed > std::chrono::minutes{1})
        return "expects a duration up to 1m, such as 100ms, or 0 (off)";
    c.stall_threshold = *parsed;
    return {};
}

std::string set_mode(config& c, std::string_view v)
{
    auto const m = find_mode(v);
    if (!m)
        return "expects " + model_names_text();
    c.mode = *m;
    return {};
}

std::string set_thread_stack(config& c, std::string_view v)
{
    // Below 64 KiB a handler's frames and the TLS of the libraries do not fit.
    constexpr std::size_t lo = 64 * 1024;
    constexpr std::size_t hi = 64 * 1024 * 1024;
    auto parsed = parse_size(v);
    if (!parsed || *parsed < lo || *parsed > hi)
        return "expects a size from 64K to 64M, such as 256K or 1M";
    c.thread_stack_bytes = *parsed;
    return {};
}

std::string set_accept(config& c, std::string_view v)
{
    for (auto a : {accept_strategy::round_robin, accept_strategy::reuseport})
        if (v == to_string(a)) {
            c.accept = a;
            return {};
        }
    return "expects round-robin or reuseport";
}

std::string set_pin(config& c, std::string_view v)
{
    if (v == "on" || v == "true" || v == "1")
        c.pin = true;
    else if (v == "off" || v == "false" || v == "0")
        c.pin = false;
    else
        return "expects on or off";
    return {};
}

std::string set_address(config& c, std::string_view v)
{
    if (v.empty())
        return "expects an IP address";
    c.address = std::string{v};
    return {};
}

std::string set_chart_js(config& c, std::string_view v)
{
    if (v.empty())
        return "expects the path of a Chart.js file, such as /usr/share/javascript/chart.js/chart.min.js";
    c.chart_js = std::string{v};
    return {};
}

std::string set_upstream(config& c, std::string_view v)
{
    // http://HOST:PORT, with an optional trailing slash: an IPv4 address, a name, or [IPv6].
    constexpr std::string_view error = "expects http://HOST:PORT, such as http://127.0.0.1:8081";
    if (!v.starts_with("http://"))
        return std::string{error};
    v.remove_prefix(7);
    if (v.ends_with('/'))
        v.remove_suffix(1);
    auto const colon = v.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        return std::string{error};
    auto host = v.substr(0, colon);
    if (host.starts_with('[') != host.ends_with(']'))
        return std::string{error};
    if (host.find_first_of("/?#@ ") != std::string_view::npos)
        return std::string{error};
    auto const port = parse_bounded<std::uint16_t>(v.substr(colon + 1), 1, 65535);
    if (!port)
        return std::string{error};
    c.upstream_host = std::string{host};
    c.upstream_port = *port;
    return {};
}

std::string set_db(config& c, std::string_view v)
{
    // libpq's own parser says whether the string is well formed (not whether the database is there).
    std::string text{v};
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
    if (options == nullptr || text.find_first_not_of(" \t") == std::string::npos) {
        std::string why = error != nullptr ? std::string{error} : "it is empty";
        PQfreemem(error);
        PQconninfoFree(options);
        while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
            why.pop_back();
        return "expects a libpq connection string, such as 'host=127.0.0.1 port=5432 dbname=cvp user=cvp' (" + why + ")";
    }
    PQconninfoFree(options);
    c.db = std::move(text);
    return {};
}

constexpr flag flags[] = {
    {"mode", "MODE", "reactors", "execution model", &set_mode, &model_names_text},
    {"threads", "N", "usable CPUs", "event loops in reactors, threads in pool", &set_number<unsigned, 1, 1024, &config::threads>},
    {"accept", "HOW", "round-robin", "reactors: round-robin (one acceptor) or reuseport (one per loop)", &set_accept},
    {"pin", "on|off", "on in reactors, off in pool", "pin reactor or pool threads to allowed CPUs", &set_pin},
    {"pool-threads", "N", "usable CPUs", "CPU pool threads in offload", &set_number<unsigned, 1, 1024, &config::pool_threads>},
    {"pool-queue", "N", "256", "pool tasks that may wait; beyond it requests get 503",
     &set_number<std::size_t, 0, 1'000'000, &config::pool_queue>},
    {"pool-nice", "N", "10", "nice levels the pool threads run below the I/O loop (0: the same priority)",
     &set_number<unsigned, 0, 19, &config::pool_nice>},
    {"thread-stack", "SIZE", "256K", "threads: stack size of each connection thread (64K to 64M)", &set_thread_stack},
    {"address", "IP", "127.0.0.1", "listening address", &set_address},
    {"port", "PORT", "8080", "listening port; 0 takes a free one", &set_number<std::uint16_t, 0, 65535, &config::port>},
    {"max-connections", "N", "10000", "open connections; beyond it new ones get 503 and are closed",
     &set_number<std::size_t, 1, 10'000'000, &config::max_connections>},
    {"max-header-bytes", "N", "8192", "request header limit (431 beyond it)",
     &set_number<std::uint32_t, 256, 1 << 20, &config::max_header_bytes>},
    {"max-body-bytes", "N", "65536", "request body limit (413 beyond it)", &set_number<std::uint64_t, 0, 1 << 30, &config::max_body_bytes>},
    {"header-timeout", "DUR", "10s", "time to receive a request once it starts, and the first one on a connection",
     &set_duration<&config::header_timeout>},
    {"idle-timeout", "DUR", "60s", "keep-alive: time to wait for the next request", &set_duration<&config::idle_timeout>},
    {"write-timeout", "DUR", "30s", "time to write one response", &set_duration<&config::write_timeout>},
    {"overload-pause", "DUR", "100ms", "after a 503 for overload, how long the connection's next request waits to be read",
     &set_duration<&config::overload_pause>},
    {"drain-timeout", "DUR", "10s", "on SIGTERM/SIGINT, how long in-flight requests may take", &set_duration<&config::drain_timeout>},
    {"drain-grace", "DUR", "1s", "on SIGTERM/SIGINT, how long an idle connection may still send one request",
     &set_duration<&config::drain_grace>},
    {"lag-interval", "DUR", "10ms", "how often each event loop's lag timer fires (1ms to 1s)", &set_lag_interval},
    {"stall-threshold", "DUR", "100ms", "report a loop that has not come back to its event wait for this long (0: off)",
     &set_stall_threshold},
    {"timeline", "N", "0", "work intervals kept per worker for /stats/timeline (0: no recording; up to 100000)",
     &set_number<std::size_t, 0, 100'000, &config::timeline_events>},
    {"chart-js", "PATH", "/usr/share/javascript/chart.js/chart.min.js",
     "the Chart.js file /dashboard/chart.js serves (Debian's libjs-chart.js); read on each request", &set_chart_js},
    {"upstream", "URL", "none", "the downstream HTTP service /io/http calls: http://HOST:PORT", &set_upstream},
    {"upstream-connections", "N", "64", "connections each downstream pool may open (per loop, or one shared pool)",
     &set_number<std::size_t, 1, 100'000, &config::upstream_connections>},
    {"upstream-queue", "N", "1024", "calls that may wait for a downstream connection, per pool; beyond it 503",
     &set_number<std::size_t, 0, 1'000'000, &config::upstream_queue>},
    {"upstream-connect-timeout", "DUR", "1s", "time to open a downstream connection (504 beyond it)",
     &set_duration<&config::upstream_connect_timeout>},
    {"upstream-timeout", "DUR", "30s", "time to wait for a downstream connection, then for the whole answer (504)",
     &set_duration<&config::upstream_timeout>},
    {"upstream-max-body", "N", "1048576", "largest downstream answer body (502 beyond it)",
     &set_number<std::uint64_t, 0, 1 << 30, &config::upstream_max_body>},
    {"db", "CONNINFO", "none", "PostgreSQL for /db/*: a libpq connection string, such as 'host=127.0.0.1 port=5432 dbname=cvp user=cvp'",
     &set_db},
    {"db-connections", "N", "16", "connections each database pool may open (per loop, or one shared pool)",
     &set_number<std::size_t, 1, 10'000, &config::db_connections>},
    {"db-queue", "N", "1024", "calls that may wait for a database connection, per pool; beyond it 503",
     &set_number<std::size_t, 0, 1'000'000, &config::db_queue>},
    {"db-connect-timeout", "DUR", "2s", "time to open a database connection (503 when it fails, 504 when it takes longer)",
     &set_duration<&config::db_connect_timeout>},
    {"db-timeout", "DUR", "5s", "time a database call may wait for a connection, then for its rows (504)",
     &set_duration<&config::db_timeout>},
};

/// "pool-threads" -> "CVP_POOL_THREADS".
std::string env_name(std::string_view flag_name)
{
    std::string name = "CVP_";
    for (char c : flag_name)
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

flag const* find_flag(std::string_view name)
{
    auto it = std::find_if(std::begin(flags), std::end(flags), [&](flag const& f) { return f.name == name; });
    return it == std::end(flags) ? nullptr : &*it;
}

} // namespace

parse_result parse_config(std::vector<std::string> const& args, env_lookup const& env)
{
    config c;

    // The environment first, so that flags on the command line win.
    for (auto const& f : flags) {
        auto const var = env_name(f.name);
        if (auto value = env(var)) {
            if (auto err = f.apply(c, *value); !err.empty())
                return config_error{var + "=" + *value + ": " + err};
        }
    }

    // Then the command line.
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h")
            return help_requested{};
        if (arg == "--list-models")
            return models_requested{};
        if (!arg.starts_with("--"))
            return config_error{"unexpected argument '" + std::string{arg} + "' (see --help)"};
        arg.remove_prefix(2);

        // Accept both --flag=value and --flag value.
        std::string_view name = arg;
        std::string value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = std::string{arg.substr(eq + 1)};
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return config_error{"--" + std::string{name} + " needs a value"};
        }

        auto const* f = find_flag(name);
        if (f == nullptr)
            return config_error{"unknown flag --" + std::string{name} + " (see --help)"};
        if (auto err = f->apply(c, value); !err.empty())
            return config_error{"--" + std::string{name} + " " + value + ": " + err};
    }
    return c;
}

env_lookup process_env()
{
    return [](std::string const& name) -> std::optional<std::string> {
        if (char const* v = std::getenv(name.c_str()))
            return std::string{v};
        return std::nullopt;
    };
}

std::string help_text()
{
    std::ostringstream out;
    out << "usage: cvp-server [--flag value]...\n\n"
           "One HTTP server, the same handlers under each execution model.\n\n"
           "models (--mode):\n";
    for (auto const& e : model_catalog()) {
        std::string lhs = "  " + std::string{e.card.name};
        lhs.resize(std::max<std::size_t>(lhs.size() + 1, 12), ' ');
        out << lhs << e.card.description << "\n";
    }
    out << "\nflags (each may also be set as an environment variable; flags win):\n";
    for (auto const& f : flags) {
        std::string lhs = "  --" + std::string{f.name} + " " + std::string{f.value_hint};
        lhs.resize(std::max<std::size_t>(lhs.size() + 1, 30), ' ');
        out << lhs << f.help;
        if (f.choices != nullptr)
            out << ": " << f.choices() << " (see above)";
        out << "\n" << std::string(30, ' ') << "env " << env_name(f.name) << ", default " << f.default_text << "\n";
    }
    out << "\n  --list-models                 print the models above as JSON and exit\n"
           "\nDurations take ms, s or m; a bare number is milliseconds.\n"
           "Endpoints, headers and /stats are described in docs/API.md.\n";
    return out.str();
}

} // namespace cvp
