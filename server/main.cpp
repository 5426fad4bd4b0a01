/// cvp-server: parse the flags, size the models from the CPUs the process may use, listen,
/// print one start-up line, and serve until SIGTERM/SIGINT has drained the server.

#include "server/config.hpp"
#include "server/cpu_limits.hpp"
#include "server/models/catalog.hpp"
#include "server/server.hpp"
#include "server/stop_signals.hpp"

#include <boost/system/system_error.hpp>

#include <iostream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

int main(int argc, char** argv)
{
    // SIGINT and SIGTERM wait for the server to read them, in every thread, until exit.
    cvp::block_stop_signals();

    // Flags, over CVP_* variables.
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = cvp::parse_config(args, cvp::process_env());
    if (std::holds_alternative<cvp::help_requested>(parsed)) {
        std::cout << cvp::help_text();
        return 0;
    }
    if (std::holds_alternative<cvp::models_requested>(parsed)) {
        std::cout << cvp::list_models_json() << '\n';
        return 0;
    }
    if (auto const* err = std::get_if<cvp::config_error>(&parsed)) {
        std::cerr << "cvp-server: " << err->message << '\n';
        return 2;
    }
    auto const& cfg = std::get<cvp::config>(parsed);

    try {
        cvp::server server{cfg, cvp::detect_cpu_limits()};
        // Thousands of connections need thousands of descriptors.
        auto const files = cvp::raise_open_file_limit();
        server.listen();
        // The cap: what the open files leave once the process's own are kept, at most
        // --max-connections. Past it connections get 503, as past the flag.
        auto const budget = server.budget_connections(files);
        if (budget.cap == 0) {
            std::cerr << "cvp-server: the open-file limit " << files << " leaves no room for a connection (" << budget.reserved
                      << " kept for the process)\n";
            return 1;
        }
        if (budget.bound_by_open_files())
            std::cerr << "cvp-server: the open-file limit " << files << " holds " << budget.cap << " connections of "
                      << budget.per_connection << " descriptor(s) each, " << budget.reserved << " kept for the process: the cap is "
                      << budget.cap << ", not --max-connections " << cfg.max_connections << '\n';
        std::cout << server.startup_line() << std::endl;
        return server.run();
    } catch (boost::system::system_error const& e) {
        std::cerr << "cvp-server: cannot listen on " << cfg.address << ':' << cfg.port << ": " << e.code().message() << '\n';
        return 1;
    } catch (std::runtime_error const& e) {
        // A flag whose value the world does not match, such as an --upstream that does not resolve.
        std::cerr << "cvp-server: " << e.what() << '\n';
        return 1;
    }
}
