#include "loadtest/load/options.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <functional>
#include <optional>
#include <sstream>
#include <string_view>

namespace cvp::load {

namespace {

/// A decimal number in [lo, hi], or empty.
std::optional<double> parse_decimal(std::string_view text, double lo, double hi)
{
    double v = 0;
    auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v) || v < lo || v > hi)
        return std::nullopt;
    return v;
}

/// A whole number in [lo, hi], or empty.
std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t lo, std::uint64_t hi)
{
    std::uint64_t v = 0;
    auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || v < lo || v > hi)
        return std::nullopt;
    return v;
}

/// A number as people write it: 0.001, 10000000.
std::string number_text(double v)
{
    std::array<char, 32> out{};
    auto const [end, ec] = std::to_chars(out.data(), out.data() + out.size(), v);
    return ec == std::errc{} ? std::string(out.data(), end) : std::to_string(v);
}

/// One flag: its name, what its value looks like, its help, and how it is applied.
struct flag
{
    std::string_view name;
    std::string_view value_hint;
    std::string_view help;
    std::function<std::string(run_options&, std::string_view)> apply; ///< returns an error, or ""
};

/// A flag whose value is a decimal in [lo, hi].
template <class Member>
auto decimal_into(Member member, double lo, double hi)
{
    return [=](run_options& o, std::string_view v) -> std::string {
        auto const d = parse_decimal(v, lo, hi);
        if (!d)
            return "expects a number from " + number_text(lo) + " to " + number_text(hi);
        o.*member = *d;
        return {};
    };
}

/// A flag whose value is a whole number in [lo, hi].
template <class Member>
auto count_into(Member member, std::uint64_t lo, std::uint64_t hi)
{
    return [=](run_options& o, std::string_view v) -> std::string {
        auto const n = parse_count(v, lo, hi);
        if (!n)
            return "expects a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
        o.*member = static_cast<std::remove_reference_t<decltype(o.*member)>>(*n);
        return {};
    };
}

std::vector<flag> const& flags()
{
    static std::vector<flag> const all = {
        {"rate", "R", "requests per second, sent on schedule whatever the server does (required)",
         decimal_into(&run_options::rate, 0.001, 10'000'000)},
        {"duration", "S", "seconds measured (default 10)", decimal_into(&run_options::duration_s, 0.001, 86'400)},
        {"warmup", "S", "seconds on the same schedule before measuring, not recorded (default 0)",
         decimal_into(&run_options::warmup_s, 0, 3'600)},
        {"arrival", "KIND", "constant (exactly 1/rate apart) or poisson (exponential gaps) (default constant)",
         [](run_options& o, std::string_view v) -> std::string {
             if (v == "constant")
                 o.arrival = arrival_kind::constant;
             else if (v == "poisson")
                 o.arrival = arrival_kind::poisson;
             else
                 return "expects constant or poisson";
             return {};
         }},
        {"seed", "N", "the Poisson schedule's seed (default 1)", count_into(&run_options::seed, 0, UINT64_MAX)},
        {"connections", "N", "connections opened before the schedule starts (default 1)",
         count_into(&run_options::connections, 0, 1'000'000)},
        {"max-connections", "N", "most connections open at once; more open only when none is free (default 1000)",
         count_into(&run_options::max_connections, 1, 1'000'000)},
        {"backlog", "N", "due requests that may wait for a free connection; past it they are dropped (default 10000)",
         count_into(&run_options::backlog, 0, 100'000'000)},
        {"timeout", "S", "an answer later than this counts as a timeout and its connection closes (default 10)",
         decimal_into(&run_options::timeout_s, 0.001, 3'600)},
        {"json", "FILE", "write the result as JSON to FILE (- for standard output)",
         [](run_options& o, std::string_view v) -> std::string {
             if (v.empty())
                 return "expects a file name";
             o.json_path = std::string{v};
             return {};
         }},
    };
    return all;
}

/// Splits `[WEIGHT@]http://HOST[:PORT][/PATH]` into `o`'s origin and one more URL.
std::string add_url(run_options& o, std::string_view arg)
{
    target_url url;
    // The weight, when the argument starts with digits and '@' before the scheme.
    if (auto at = arg.find('@'); at != std::string_view::npos && !arg.starts_with("http://")) {
        auto const w = parse_count(arg.substr(0, at), 1, 1'000'000);
        if (!w)
            return "a weight is a whole number from 1 to 1000000 before '@'";
        url.weight = *w;
        arg.remove_prefix(at + 1);
    }
    if (!arg.starts_with("http://"))
        return "expects http://HOST:PORT/PATH (plain HTTP/1.1 only)";
    arg.remove_prefix(7);
    // The authority ends where the path starts.
    auto const slash = arg.find_first_of("/?");
    auto const authority = arg.substr(0, slash);
    auto const rest = slash == std::string_view::npos ? std::string_view{} : arg.substr(slash);
    // No path, or a query right after the authority: the path is "/".
    if (!rest.starts_with('/'))
        url.path = "/";
    url.path.append(rest);
    if (url.path.find_first_of(" \r\n\t") != std::string::npos)
        return "the path may not hold spaces or line breaks";
    // HOST[:PORT]; an IPv6 literal would need brackets, which this tool does not take.
    std::string_view host = authority;
    std::uint16_t port = 80;
    if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        auto const p = parse_count(authority.substr(colon + 1), 1, 65'535);
        if (!p)
            return "the port must be from 1 to 65535";
        port = static_cast<std::uint16_t>(*p);
    }
    if (host.empty() || host.find_first_of("[]@") != std::string_view::npos)
        return "expects a host name or IPv4 address";
    // Every URL of one run goes to one server.
    if (o.urls.empty()) {
        o.host = std::string{host};
        o.port = port;
    } else if (o.host != host || o.port != port) {
        return "every URL must name the same HOST:PORT as the first (" + origin_of(o) + ")";
    }
    o.urls.push_back(std::move(url));
    return {};
}

/// `merge A.json B.json... --json OUT`.
parsed_options parse_merge(std::vector<std::string> const& args)
{
    merge_options m;
    for (std::size_t i = 1; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--json" || arg.starts_with("--json=")) {
            if (arg == "--json" && i + 1 >= args.size())
                return options_error{"--json needs a value"};
            m.json_path = arg == "--json" ? args[++i] : std::string{arg.substr(7)};
        } else if (arg.starts_with("--")) {
            return options_error{"unknown flag " + std::string{arg} + " for merge (it takes only --json)"};
        } else {
            m.inputs.emplace_back(arg);
        }
    }
    if (m.inputs.empty())
        return options_error{"merge needs at least one JSON file of a run"};
    if (m.json_path.empty())
        return options_error{"merge needs --json OUT (- for standard output)"};
    return m;
}

} // namespace

std::string origin_of(run_options const& o)
{
    return "http://" + o.host + ":" + std::to_string(o.port);
}

parsed_options parse_options(std::vector<std::string> const& args)
{
    if (!args.empty() && args.front() == "merge")
        return parse_merge(args);
    run_options o;
    bool rate_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h")
            return help_asked{};
        if (arg == "--quiet") {
            o.quiet = true;
            continue;
        }
        // A URL of the mix.
        if (!arg.starts_with("--")) {
            if (auto err = add_url(o, arg); !err.empty())
                return options_error{"URL '" + std::string{arg} + "': " + err};
            continue;
        }
        arg.remove_prefix(2);
        // Both --flag=value and --flag value.
        std::string_view name = arg;
        std::string value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = std::string{arg.substr(eq + 1)};
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return options_error{"--" + std::string{name} + " needs a value"};
        }
        auto const* f = [&]() -> flag const* {
            for (auto const& candidate : flags())
                if (candidate.name == name)
                    return &candidate;
            return nullptr;
        }();
        if (f == nullptr)
            return options_error{"unknown flag --" + std::string{name} + " (see --help)"};
        if (auto err = f->apply(o, value); !err.empty())
            return options_error{"--" + std::string{name} + " " + value + ": " + err};
        rate_given = rate_given || name == "rate";
    }
    // What a run cannot do without.
    if (o.urls.empty())
        return options_error{"no URL to load (see --help)"};
    if (!rate_given)
        return options_error{"--rate is required: an open-loop run sends on a schedule"};
    if (o.connections > o.max_connections)
        return options_error{"--connections " + std::to_string(o.connections) + " is more than --max-connections " +
                             std::to_string(o.max_connections)};
    return o;
}

std::string help_text()
{
    std::ostringstream out;
    out << "usage: cvp-load [--flag value]... [WEIGHT@]URL...\n"
           "       cvp-load merge RUN.json... --json OUT\n\n"
           "An open-loop HTTP/1.1 load generator: requests are due on a schedule (constant or\n"
           "Poisson) whatever the server does, each is sent on a free keep-alive connection (one\n"
           "request in flight per connection; another connection opens when none is free), and\n"
           "its latency is measured from the time it was due, so a stalled server shows in full\n"
           "(no coordinated omission). The time from the actual send is kept too.\n\n"
           "URLs: http://HOST:PORT/PATH, all on one HOST:PORT; WEIGHT@URL mixes them in a fixed\n"
           "smooth round-robin (99@A 1@B at 100/s sends B exactly once a second).\n\n"
           "flags:\n";
    for (auto const& f : flags()) {
        std::string lhs = "  --" + std::string{f.name} + " " + std::string{f.value_hint};
        lhs.resize(std::max<std::size_t>(lhs.size() + 1, 24), ' ');
        out << lhs << f.help << "\n";
    }
    out << "  --quiet               no summary on standard output\n"
           "  --help                this text\n\n"
           "merge: adds the histograms of runs bucket by bucket (exactly, never averaging\n"
           "percentiles), sums their counts and rates, and writes one result.\n\n"
           "exit status: 0 when the run happened (its errors are in the output), 1 when the\n"
           "target cannot be reached or a file cannot be read or written, 2 for a bad command line.\n";
    return out.str();
}

} // namespace cvp::load
