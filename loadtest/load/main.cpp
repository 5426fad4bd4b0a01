/// cvp-load: an open-loop HTTP/1.1 load generator (see --help and loadtest/README.md).

#include "loadtest/load/generator.hpp"
#include "loadtest/load/options.hpp"
#include "loadtest/load/run_result.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace cvp::load;

/// Writes `j` to `path` ("-" for standard output); false when it cannot.
bool write_json(nlohmann::json const& j, std::string const& path)
{
    if (path == "-") {
        std::cout << j.dump() << '\n';
        return bool(std::cout);
    }
    std::ofstream out(path);
    out << j.dump() << '\n';
    return bool(out);
}

/// `cvp-load merge`: reads each run, merges them, writes the result.
int merge_runs(merge_options const& m)
{
    std::vector<run_result> runs;
    for (auto const& path : m.inputs) {
        std::ifstream in(path);
        if (!in) {
            std::cerr << "cvp-load: cannot read " << path << '\n';
            return 1;
        }
        run_result r;
        std::string error;
        auto const j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded() || !from_json(j, r, error)) {
            std::cerr << "cvp-load: " << path << ": " << (j.is_discarded() ? "not JSON" : error) << '\n';
            return 1;
        }
        runs.push_back(std::move(r));
    }
    auto const merged = merge(runs);
    if (!write_json(to_json(merged), m.json_path)) {
        std::cerr << "cvp-load: cannot write " << m.json_path << '\n';
        return 1;
    }
    if (m.json_path != "-")
        std::cout << human_summary(merged);
    return 0;
}

/// A run: resolve the server once, run the schedule, report.
int run_load(run_options const& o)
{
    boost::system::error_code ec;
    boost::asio::io_context resolve_ioc;
    boost::asio::ip::tcp::resolver resolver(resolve_ioc);
    auto const endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || endpoints.empty()) {
        std::cerr << "cvp-load: cannot resolve " << o.host << ": " << ec.message() << '\n';
        return 1;
    }
    generator g(o, endpoints.begin()->endpoint());
    run_result result;
    std::string error;
    if (!g.run(result, error)) {
        std::cerr << "cvp-load: " << error << '\n';
        return 1;
    }
    if (!o.json_path.empty() && !write_json(to_json(result), o.json_path)) {
        std::cerr << "cvp-load: cannot write " << o.json_path << '\n';
        return 1;
    }
    if (!o.quiet && o.json_path != "-")
        std::cout << human_summary(result);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    auto const parsed = parse_options(args);
    if (std::holds_alternative<help_asked>(parsed)) {
        std::cout << help_text();
        return 0;
    }
    if (auto const* err = std::get_if<options_error>(&parsed)) {
        std::cerr << "cvp-load: " << err->message << '\n';
        return 2;
    }
    if (auto const* m = std::get_if<merge_options>(&parsed))
        return merge_runs(*m);
    return run_load(std::get<run_options>(parsed));
}
