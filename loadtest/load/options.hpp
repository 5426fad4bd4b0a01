#pragma once

/// cvp-load's command line: a run (`cvp-load [flags] URL...`) or a merge
/// (`cvp-load merge A.json B.json... --json OUT`). A bad flag is an error naming it,
/// which main turns into exit status 2.

#include "loadtest/load/arrivals.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace cvp::load {

/// One URL of the mix: its origin-form target and its weight.
struct target_url
{
    std::string path;
    std::uint64_t weight = 1;
};

/// Everything a run needs.
struct run_options
{
    /// Where every URL points, as given: "127.0.0.1" and 8080.
    std::string host;
    std::uint16_t port = 0;
    std::vector<target_url> urls;
    double rate = 0;
    double duration_s = 10;
    double warmup_s = 0;
    arrival_kind arrival = arrival_kind::constant;
    std::uint64_t seed = 1;
    std::size_t connections = 1;
    std::size_t max_connections = 1000;
    std::size_t backlog = 10'000;
    double timeout_s = 10;
    /// Where the JSON goes: empty for nowhere, "-" for stdout.
    std::string json_path;
    bool quiet = false;
};

/// `cvp-load merge`: the runs to merge and where the result goes.
struct merge_options
{
    std::vector<std::string> inputs;
    std::string json_path;
};

/// --help.
struct help_asked
{
};

/// A command line that cannot be run; `message` names the flag or argument.
struct options_error
{
    std::string message;
};

using parsed_options = std::variant<run_options, merge_options, help_asked, options_error>;

/// Parses the arguments after the program's name.
parsed_options parse_options(std::vector<std::string> const& args);

/// What --help prints.
std::string help_text();

/// "http://HOST:PORT", the origin every URL shares.
std::string origin_of(run_options const& o);

} // namespace cvp::load
