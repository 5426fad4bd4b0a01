#include "server/config.hpp"
#include "server/models/catalog.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;
using cvp::config;
using cvp::config_error;
using cvp::help_requested;
using cvp::parse_config;
using cvp::parse_duration;
using cvp::parse_result;

using args = std::vector<std::string>;
using env_map = std::map<std::string, std::string>;

/// An env_lookup over a fixed map.
cvp::env_lookup fake_env(env_map vars = {})
{
    return [vars = std::move(vars)](std::string const& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end())
            return std::nullopt;
        return it->second;
    };
}

/// Parses and expects a config.
config parse_ok(args const& a, env_map vars = {})
{
    auto result = parse_config(a, fake_env(std::move(vars)));
    if (auto const* err = std::get_if<config_error>(&result))
        ADD_FAILURE() << "unexpected error: " << err->message;
    EXPECT_TRUE(std::holds_alternative<config>(result));
    auto const* c = std::get_if<config>(&result);
    return c ? *c : config{};
}

/// Parses and expects an error; returns its message.
std::string parse_error(args const& a, env_map vars = {})
{
    auto result = parse_config(a, fake_env(std::move(vars)));
    auto const* err = std::get_if<config_error>(&result);
    EXPECT_NE(err, nullptr) << "expected an error";
    if (err == nullptr)
        return {};
    EXPECT_FALSE(err->message.empty());
    return err->message;
}

bool contains(std::string const& haystack, std::string const& needle)
{
    return haystack.find(needle) != std::string::npos;
}

//------------------------------------------------------------------------------
// Defaults

TEST(Config, DefaultsAreTheDocumentedOnes)
{
    auto const c = parse_ok({});
    EXPECT_EQ(c.mode, cvp::mode::reactors);
    EXPECT_EQ(c.threads, 0u) << "0 means the usable CPUs";
    EXPECT_EQ(c.accept, cvp::accept_strategy::round_robin);
    EXPECT_FALSE(c.pin.has_value()) << "unset: each model's default";
    EXPECT_EQ(c.thread_stack_bytes, 256u * 1024);
    EXPECT_EQ(c.pool_threads, 0u) << "0 means the usable CPUs";
    EXPECT_EQ(c.pool_queue, 256u);
    EXPECT_EQ(c.pool_nice, 10u);
    EXPECT_EQ(c.address, "127.0.0.1");
    EXPECT_EQ(c.port, 8080);
    EXPECT_EQ(c.max_connections, 10'000u);
    EXPECT_EQ(c.max_header_bytes, 8192u);
    EXPECT_EQ(c.max_body_bytes, 65536u);
    EXPECT_EQ(c.header_timeout, 10s);
    EXPECT_EQ(c.idle_timeout, 60s);
    EXPECT_EQ(c.write_timeout, 30s);
    EXPECT_EQ(c.drain_timeout, 10s);
}

TEST(Config, ToString)
{
    EXPECT_EQ(cvp::to_string(cvp::mode::single), "single");
    EXPECT_EQ(cvp::to_string(cvp::mode::reactors), "reactors");
    EXPECT_EQ(cvp::to_string(cvp::mode::offload), "offload");
    EXPECT_EQ(cvp::to_string(cvp::accept_strategy::round_robin), "round-robin");
    EXPECT_EQ(cvp::to_string(cvp::accept_strategy::reuseport), "reuseport");
}

//------------------------------------------------------------------------------
// Each flag, in both spellings and from the environment

/// One flag, a value other than its default, and a check that the value landed.
struct flag_case
{
    std::string flag;
    std::string value;
    std::function<bool(config const&)> applied;
};

std::vector<flag_case> const& flag_cases()
{
    static std::vector<flag_case> const cases = {
        {"mode", "offload", [](config const& c) { return c.mode == cvp::mode::offload; }},
        {"threads", "3", [](config const& c) { return c.threads == 3; }},
        {"accept", "reuseport", [](config const& c) { return c.accept == cvp::accept_strategy::reuseport; }},
        {"pin", "off", [](config const& c) { return c.pin == false; }},
        {"thread-stack", "1M", [](config const& c) { return c.thread_stack_bytes == 1024u * 1024; }},
        {"pool-threads", "5", [](config const& c) { return c.pool_threads == 5; }},
        {"pool-queue", "64", [](config const& c) { return c.pool_queue == 64; }},
        {"pool-nice", "0", [](config const& c) { return c.pool_nice == 0; }},
        {"address", "0.0.0.0", [](config const& c) { return c.address == "0.0.0.0"; }},
        {"port", "0", [](config const& c) { return c.port == 0; }},
        {"max-connections", "100", [](config const& c) { return c.max_connections == 100; }},
        {"max-header-bytes", "4096", [](config const& c) { return c.max_header_bytes == 4096; }},
        {"max-body-bytes", "1024", [](config const& c) { return c.max_body_bytes == 1024; }},
        {"header-timeout", "250ms", [](config const& c) { return c.header_timeout == 250ms; }},
        {"idle-timeout", "2m", [](config const& c) { return c.idle_timeout == 2min; }},
        {"write-timeout", "5s", [](config const& c) { return c.write_timeout == 5s; }},
        {"drain-timeout", "1500", [](config const& c) { return c.drain_timeout == 1500ms; }},
        {"chart-js", "/opt/chart.js", [](config const& c) { return c.chart_js == "/opt/chart.js"; }},
    };
    return cases;
}

/// "pool-threads" -> "CVP_POOL_THREADS", as docs/API.md names the variables.
std::string env_var(std::string const& flag)
{
    std::string name = "CVP_";
    for (char ch : flag)
        name += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return name;
}

TEST(Config, EveryFlagAsSeparateValue)
{
    for (auto const& fc : flag_cases()) {
        SCOPED_TRACE("--" + fc.flag + " " + fc.value);
        auto const c = parse_ok({"--" + fc.flag, fc.value});
        EXPECT_TRUE(fc.applied(c));
        EXPECT_FALSE(fc.applied(config{})) << "the test value must differ from the default";
    }
}

TEST(Config, EveryFlagWithEquals)
{
    for (auto const& fc : flag_cases()) {
        SCOPED_TRACE("--" + fc.flag + "=" + fc.value);
        EXPECT_TRUE(fc.applied(parse_ok({"--" + fc.flag + "=" + fc.value})));
    }
}

TEST(Config, EveryFlagFromTheEnvironment)
{
    for (auto const& fc : flag_cases()) {
        SCOPED_TRACE(env_var(fc.flag) + "=" + fc.value);
        EXPECT_TRUE(fc.applied(parse_ok({}, {{env_var(fc.flag), fc.value}})));
    }
}

TEST(Config, DocumentedEnvironmentExample)
{
    EXPECT_EQ(parse_ok({}, {{"CVP_POOL_QUEUE", "64"}}).pool_queue, 64u);
}

TEST(Config, AllFlagsTogether)
{
    args a;
    for (auto const& fc : flag_cases()) {
        a.push_back("--" + fc.flag);
        a.push_back(fc.value);
    }
    auto const c = parse_ok(a);
    for (auto const& fc : flag_cases())
        EXPECT_TRUE(fc.applied(c)) << fc.flag;
}

TEST(Config, UnrelatedVariablesAreIgnored)
{
    auto const c = parse_ok({}, {{"PORT", "1"}, {"CVP_PORTS", "2"}, {"cvp_port", "3"}, {"CVP_BOGUS", "x"}});
    EXPECT_EQ(c.port, 8080);
}

TEST(Config, FlagsOverrideTheEnvironment)
{
    env_map const vars{{"CVP_PORT", "1111"}, {"CVP_MODE", "single"}, {"CVP_POOL_QUEUE", "8"}};
    auto const c = parse_ok({"--port", "2222", "--mode=offload"}, vars);
    EXPECT_EQ(c.port, 2222);
    EXPECT_EQ(c.mode, cvp::mode::offload);
    EXPECT_EQ(c.pool_queue, 8u) << "variables without a flag still apply";
}

TEST(Config, FlagOverridesABadVariableIsStillAnError)
{
    // The environment is read first, and a bad variable is reported even if a flag follows.
    auto const msg = parse_error({"--port", "1"}, {{"CVP_PORT", "nope"}});
    EXPECT_TRUE(contains(msg, "CVP_PORT")) << msg;
}

TEST(Config, LaterFlagWins)
{
    EXPECT_EQ(parse_ok({"--port", "1", "--port=2"}).port, 2);
}

TEST(Config, ModeValues)
{
    EXPECT_EQ(parse_ok({"--mode", "single"}).mode, cvp::mode::single);
    EXPECT_EQ(parse_ok({"--mode", "reactors"}).mode, cvp::mode::reactors);
    EXPECT_EQ(parse_ok({"--mode", "offload"}).mode, cvp::mode::offload);
}

TEST(Config, PinValues)
{
    for (char const* on : {"on", "true", "1"})
        EXPECT_EQ(parse_ok({"--pin", "off", "--pin", on}).pin, true) << on;
    for (char const* off : {"off", "false", "0"})
        EXPECT_EQ(parse_ok({"--pin", off}).pin, false) << off;
}

TEST(Config, EveryModelParses)
{
    for (auto m : cvp::all_modes())
        EXPECT_EQ(parse_ok({"--mode", std::string{cvp::to_string(m)}}).mode, m);
    EXPECT_EQ(parse_ok({"--mode", "pool"}).mode, cvp::mode::pool);
    EXPECT_EQ(parse_ok({"--mode", "threads"}).mode, cvp::mode::threads);
}

TEST(Config, ThreadStackSizes)
{
    EXPECT_EQ(parse_ok({"--thread-stack", "65536"}).thread_stack_bytes, 65536u);
    EXPECT_EQ(parse_ok({"--thread-stack", "512k"}).thread_stack_bytes, 512u * 1024);
    EXPECT_EQ(parse_ok({"--thread-stack", "64M"}).thread_stack_bytes, 64u * 1024 * 1024);
    for (char const* bad : {"", "K", "1G", "63K", "65M", "12x", "-1"})
        EXPECT_FALSE(parse_error({"--thread-stack", bad}).empty()) << bad;
}

TEST(Config, NumericBoundsAreInclusive)
{
    EXPECT_EQ(parse_ok({"--threads", "1"}).threads, 1u);
    EXPECT_EQ(parse_ok({"--threads", "1024"}).threads, 1024u);
    EXPECT_EQ(parse_ok({"--port", "65535"}).port, 65535);
    EXPECT_EQ(parse_ok({"--pool-queue", "0"}).pool_queue, 0u);
    EXPECT_EQ(parse_ok({"--max-header-bytes", "256"}).max_header_bytes, 256u);
    EXPECT_EQ(parse_ok({"--max-header-bytes", "1048576"}).max_header_bytes, 1048576u);
    EXPECT_EQ(parse_ok({"--max-body-bytes", "0"}).max_body_bytes, 0u);
    EXPECT_EQ(parse_ok({"--max-body-bytes", "1073741824"}).max_body_bytes, 1073741824u);
    EXPECT_EQ(parse_ok({"--max-connections", "1"}).max_connections, 1u);
}

//------------------------------------------------------------------------------
// Errors

/// A flag and a value it must refuse.
struct bad_case
{
    std::string flag;
    std::string value;
};

std::vector<bad_case> const& bad_cases()
{
    static std::vector<bad_case> const cases = {
        {"mode", "fast"},
        {"mode", "Single"},
        {"mode", ""},
        {"threads", "0"},
        {"threads", "1025"},
        {"threads", "-1"},
        {"threads", "two"},
        {"threads", "2x"},
        {"accept", "random"},
        {"pin", "yes"},
        {"pool-threads", "0"},
        {"pool-queue", "-1"},
        {"pool-queue", "1000001"},
        {"pool-nice", "20"},
        {"pool-nice", "-1"},
        {"address", ""},
        {"port", "65536"},
        {"port", "-1"},
        {"port", "99999999999999999999999"},
        {"port", ""},
        {"port", " 80"},
        {"max-connections", "0"},
        {"max-header-bytes", "255"},
        {"max-header-bytes", "1048577"},
        {"max-body-bytes", "1073741825"},
        {"header-timeout", "0"},
        {"header-timeout", "0ms"},
        {"idle-timeout", "10h"},
        {"write-timeout", "-5"},
        {"drain-timeout", "ms"},
        {"drain-timeout", "2d"},
    };
    return cases;
}

TEST(Config, BadFlagValueNamesTheFlag)
{
    for (auto const& bc : bad_cases()) {
        SCOPED_TRACE("--" + bc.flag + " '" + bc.value + "'");
        auto const msg = parse_error({"--" + bc.flag, bc.value});
        EXPECT_TRUE(contains(msg, "--" + bc.flag)) << msg;
    }
}

TEST(Config, BadFlagValueWithEqualsNamesTheFlag)
{
    for (auto const& bc : bad_cases()) {
        SCOPED_TRACE("--" + bc.flag + "='" + bc.value + "'");
        auto const msg = parse_error({"--" + bc.flag + "=" + bc.value});
        EXPECT_TRUE(contains(msg, "--" + bc.flag)) << msg;
    }
}

TEST(Config, BadVariableNamesTheVariable)
{
    for (auto const& bc : bad_cases()) {
        SCOPED_TRACE(env_var(bc.flag) + "='" + bc.value + "'");
        auto const msg = parse_error({}, {{env_var(bc.flag), bc.value}});
        EXPECT_TRUE(contains(msg, env_var(bc.flag))) << msg;
    }
}

TEST(Config, ErrorSaysWhatIsAccepted)
{
    EXPECT_TRUE(contains(parse_error({"--mode", "fast"}), cvp::model_names_text()));
    EXPECT_TRUE(contains(parse_error({"--threads", "0"}), "1 to 1024"));
    EXPECT_TRUE(contains(parse_error({"--idle-timeout", "10h"}), "duration"));
    EXPECT_TRUE(contains(parse_error({"--port", "x"}), "x")) << "quotes the value";
}

TEST(Config, UnknownFlag)
{
    auto const msg = parse_error({"--bogus", "1"});
    EXPECT_TRUE(contains(msg, "unknown flag --bogus")) << msg;
    EXPECT_TRUE(contains(parse_error({"--bogus=1"}), "--bogus"));
    EXPECT_TRUE(contains(parse_error({"--Port", "1"}), "--Port")) << "flags are case-sensitive";
}

TEST(Config, MissingValue)
{
    auto const msg = parse_error({"--port"});
    EXPECT_TRUE(contains(msg, "--port")) << msg;
    EXPECT_TRUE(contains(msg, "needs a value")) << msg;
    EXPECT_TRUE(contains(parse_error({"--mode", "single", "--threads"}), "--threads"));
}

TEST(Config, PositionalArgumentIsAnError)
{
    auto const msg = parse_error({"offload"});
    EXPECT_TRUE(contains(msg, "offload")) << msg;
    EXPECT_TRUE(contains(parse_error({"-p", "80"}), "-p"));
}

TEST(Config, ErrorStopsAtTheFirstBadFlag)
{
    auto const msg = parse_error({"--port", "x", "--mode", "y"});
    EXPECT_TRUE(contains(msg, "--port")) << msg;
    EXPECT_FALSE(contains(msg, "--mode")) << msg;
}

TEST(Config, Help)
{
    for (args const& a : {args{"--help"}, args{"-h"}, args{"--port", "1", "--help"}, args{"--help", "--bogus"}}) {
        auto const result = parse_config(a, fake_env());
        EXPECT_TRUE(std::holds_alternative<help_requested>(result)) << a.front();
    }
}

TEST(Config, HelpTextNamesEveryFlagAndVariable)
{
    auto const text = cvp::help_text();
    for (auto const& fc : flag_cases()) {
        EXPECT_TRUE(contains(text, "--" + fc.flag + " ")) << fc.flag;
        EXPECT_TRUE(contains(text, env_var(fc.flag))) << fc.flag;
    }
    EXPECT_TRUE(contains(text, "default 256"));
}

TEST(Config, HelpTextDescribesEveryModelFromItsOwnFile)
{
    auto const text = cvp::help_text();
    for (auto m : cvp::all_modes()) {
        auto const card = cvp::model_card_of(m);
        EXPECT_EQ(card.name, cvp::to_string(m));
        EXPECT_FALSE(card.description.empty()) << card.name;
        EXPECT_TRUE(contains(text, "  " + std::string{card.name} + " ")) << card.name;
        EXPECT_TRUE(contains(text, std::string{card.description})) << card.name;
    }
}

TEST(Config, ProcessEnvReadsTheEnvironment)
{
    ASSERT_EQ(::setenv("CVP_UNIT_TEST_VARIABLE", "42", 1), 0);
    auto const env = cvp::process_env();
    EXPECT_EQ(env("CVP_UNIT_TEST_VARIABLE"), "42");
    ASSERT_EQ(::unsetenv("CVP_UNIT_TEST_VARIABLE"), 0);
    EXPECT_EQ(env("CVP_UNIT_TEST_VARIABLE"), std::nullopt);
}

//------------------------------------------------------------------------------
// parse_duration

TEST(ParseDuration, Units)
{
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("10s"), 10s);
    EXPECT_EQ(parse_duration("2m"), 2min);
    EXPECT_EQ(parse_duration("1500"), 1500ms);
    EXPECT_EQ(parse_duration("0"), 0ms);
    EXPECT_EQ(parse_duration("007s"), 7s);
}

TEST(ParseDuration, UpToOneDay)
{
    EXPECT_EQ(parse_duration("86400000"), 24h);
    EXPECT_EQ(parse_duration("86400000ms"), 24h);
    EXPECT_EQ(parse_duration("86400s"), 24h);
    EXPECT_EQ(parse_duration("1440m"), 24h);
    EXPECT_EQ(parse_duration("86400001"), std::nullopt);
    EXPECT_EQ(parse_duration("86401s"), std::nullopt);
    EXPECT_EQ(parse_duration("1441m"), std::nullopt);
}

TEST(ParseDuration, Rejects)
{
    for (char const* bad : {"", "10h", "-5", "ms", "s", "5 s", " 5", "5ms ", "1.5s", "10S", "10MS", "5sec", "0x10", "+5", "5m5s", "1e3"})
        EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
}

TEST(ParseDuration, RejectsOverflow)
{
    for (char const* bad : {"99999999999999999999999", "99999999999999999999999ms", "18446744073709551615", "18446744073709551615m",
                            "307445734561825861m", "18446744073709552s"})
        EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
}

} // namespace

namespace {

TEST(config_loop_health, lag_interval_and_stall_threshold_have_their_defaults_and_bounds)
{
    auto const d = parse_ok({});
    EXPECT_EQ(d.lag_interval, 10ms);
    EXPECT_EQ(d.stall_threshold, 100ms);

    EXPECT_EQ(parse_ok({"--lag-interval", "1ms"}).lag_interval, 1ms);
    EXPECT_EQ(parse_ok({"--stall-threshold", "250ms"}).stall_threshold, 250ms);
    EXPECT_EQ(parse_ok({"--stall-threshold", "0"}).stall_threshold, 0ms);
    EXPECT_EQ(parse_ok({"--stall-threshold", "off"}).stall_threshold, 0ms);
    EXPECT_EQ(parse_ok({}, {{"CVP_STALL_THRESHOLD", "off"}}).stall_threshold, 0ms);

    EXPECT_NE(parse_error({"--lag-interval", "0"}).find("lag-interval"), std::string::npos);
    EXPECT_NE(parse_error({"--lag-interval", "2s"}).find("lag-interval"), std::string::npos);
    EXPECT_NE(parse_error({"--stall-threshold", "2m"}).find("stall-threshold"), std::string::npos);
    EXPECT_NE(parse_error({"--stall-threshold", "soon"}).find("stall-threshold"), std::string::npos);
}

} // namespace

namespace {

TEST(config_timeline, recording_is_off_by_default_and_takes_events_per_worker_up_to_its_cap)
{
    EXPECT_EQ(parse_ok({}).timeline_events, 0u);
    EXPECT_EQ(parse_ok({"--timeline", "0"}).timeline_events, 0u);
    EXPECT_EQ(parse_ok({"--timeline", "1"}).timeline_events, 1u);
    EXPECT_EQ(parse_ok({"--timeline=100000"}).timeline_events, 100'000u);
    EXPECT_EQ(parse_ok({}, {{"CVP_TIMELINE", "512"}}).timeline_events, 512u);
    // The flag wins over the variable.
    EXPECT_EQ(parse_ok({"--timeline", "8"}, {{"CVP_TIMELINE", "512"}}).timeline_events, 8u);

    // Bad values name the flag (or the variable) and the accepted range.
    for (auto const* bad : {"100001", "-1", "many", "", "1.5", "10K"}) {
        auto const message = parse_error({"--timeline", bad});
        EXPECT_NE(message.find("--timeline"), std::string::npos) << bad << ": " << message;
        EXPECT_NE(message.find("0 to 100000"), std::string::npos) << bad << ": " << message;
    }
    EXPECT_NE(parse_error({}, {{"CVP_TIMELINE", "x"}}).find("CVP_TIMELINE"), std::string::npos);
    EXPECT_NE(cvp::help_text().find("--timeline N"), std::string::npos);
}

} // namespace

namespace {

TEST(config_dashboard, chart_js_is_debians_file_unless_another_is_named)
{
    EXPECT_EQ(parse_ok({}).chart_js, "/usr/share/javascript/chart.js/chart.min.js");
    EXPECT_EQ(parse_ok({}, {{"CVP_CHART_JS", "/srv/chart.js"}}).chart_js, "/srv/chart.js");
    // An empty path names the flag, and what it expects.
    auto const message = parse_error({"--chart-js", ""});
    EXPECT_NE(message.find("--chart-js"), std::string::npos) << message;
    EXPECT_NE(message.find("Chart.js file"), std::string::npos) << message;
    EXPECT_NE(cvp::help_text().find("--chart-js PATH"), std::string::npos);
}

} // namespace
