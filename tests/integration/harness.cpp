#include "tests/integration/harness.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace cvp::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

std::int64_t now_ns()
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ---------------------------------------------------------------------------------------
// the server binary

namespace {

/// The binary under test. CVP_TEST_SERVER runs the suite against another build, e.g. to
/// see a test fail on the code before a fix.
std::string server_binary()
{
    char const* binary = std::getenv("CVP_TEST_SERVER");
    return binary != nullptr ? binary : CVP_SERVER_BINARY;
}

/// Starts `argv_strings` with stdout on a pipe (stderr stays the test's, so its log shows
/// on failure); returns the pipe's reading end.
int spawn_reading_stdout(std::vector<std::string> argv_strings, pid_t& pid)
{
    std::vector<char*> argv;
    for (auto& a : argv_strings)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe(out) != 0)
        throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    int const rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        throw std::runtime_error("cannot start " + argv_strings[0]);
    }
    return out[0];
}

} // namespace

std::string list_models_output()
{
    // Everything it prints, then its exit status.
    pid_t pid = -1;
    int const out = spawn_reading_stdout({server_binary(), "--list-models"}, pid);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(out, buf, sizeof buf)) > 0;)
        text.append(buf, static_cast<std::size_t>(n));
    ::close(out);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(server_binary() + " --list-models failed");
    return text;
}

namespace {

/// The models as the binary lists them, in its order.
std::vector<model_info> read_models()
{
    auto const doc = nlohmann::json::parse(list_models_output());
    std::vector<model_info> models;
    for (auto const& m : doc.at("models"))
        models.push_back(model_info{m.at("name"), m.at("description"), m.at("sizing_flags"), m.at("worker_kinds"), m.at("serving_kind"),
                                    m.at("work_kind")});
    if (models.empty())
        throw std::runtime_error(server_binary() + " --list-models lists no model");
    return models;
}

} // namespace

std::vector<model_info> const& models()
{
    static std::vector<model_info> const list = read_models();
    return list;
}

std::vector<std::string> const& all_modes()
{
    static std::vector<std::string> const names = [] {
        std::vector<std::string> n;
        for (auto const& m : models())
            n.push_back(m.name);
        return n;
    }();
    return names;
}

model_info const& model(std::string const& mode)
{
    for (auto const& m : models())
        if (m.name == mode)
            return m;
    throw std::runtime_error("no model named " + mode);
}

// ---------------------------------------------------------------------------------------
// server_process

server_process::server_process(std::vector<std::string> args, std::vector<std::string> launcher)
{
    // argv: the launcher if any, the binary, a free loopback port, then the test's flags
    // (which may override).
    std::vector<std::string> argv_strings = std::move(launcher);
    for (std::string a : {server_binary(), std::string{"--address"}, std::string{"127.0.0.1"}, std::string{"--port"}, std::string{"0"}})
        argv_strings.push_back(std::move(a));
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    int const out = spawn_reading_stdout(argv_strings, pid_);

    // Read the start-up line and the port it names.
    auto const deadline = std::chrono::steady_clock::now() + patience;
    while (startup_line_.find('\n') == std::string::npos) {
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd pfd{out, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
            break;
        char buf[512];
        auto const n = ::read(out, buf, sizeof buf);
        if (n <= 0)
            break;
        startup_line_.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out);
    auto const at = startup_line_.find("listening=");
    auto const colon = startup_line_.rfind(':');
    if (at == std::string::npos || colon == std::string::npos || colon < at) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        exited_ = true;
        throw std::runtime_error("cvp-server did not print its start-up line; got: '" + startup_line_ + "'");
    }
    port_ = static_cast<std::uint16_t>(std::stoul(startup_line_.substr(colon + 1)));
}

server_process::~server_process()
{
    if (!exited_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void server_process::signal(int sig) const
{
    ::kill(pid_, sig);
}

std::optional<int> server_process::wait_exit(std::chrono::milliseconds timeout)
{
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return -WTERMSIG(status);
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
}

// ---------------------------------------------------------------------------------------
// http_client

std::string http_reply::header(std::string const& name) const
{
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
}

http_client::http_client(std::uint16_t port)
    : stream_(ioc_)
{
    stream_.expires_after(patience);
    stream_.async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port}, [](beast::error_code ec) {
        if (ec)
            throw beast::system_error(ec);
    });
    run_for(patience);
}

void http_client::run_for(std::chrono::milliseconds timeout)
{
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!ioc_.stopped())
        throw std::runtime_error("client operation did not finish in time");
}

void http_client::send(std::string const& target, http::verb method)
{
    http::request<http::empty_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, "cvp-tests");
    http::write(stream_.socket(), req);
}

void http_client::send_raw(std::string const& bytes)
{
    asio::write(stream_.socket(), asio::buffer(bytes));
}

std::size_t http_client::send_while_open(std::string const& bytes)
{
    beast::error_code ec;
    return asio::write(stream_.socket(), asio::buffer(bytes), ec);
}

http_reply http_client::request(std::string const& target, http::verb method, unsigned version,
                                std::map<std::string, std::string> const& headers)
{
    http::request<http::empty_body> req{method, target, version};
    req.set(http::field::host, "127.0.0.1");
    for (auto const& [name, value] : headers)
        req.set(name, value);
    http::write(stream_.socket(), req);
    return read_reply(method == http::verb::head);
}

http_reply http_client::read_reply(bool head)
{
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    beast::error_code result;
    stream_.expires_after(patience);
    http::async_read(stream_, buffer_, parser, [&](beast::error_code ec, std::size_t) { result = ec; });
    run_for(patience);
    if (result)
        throw beast::system_error(result);

    auto& res = parser.get();
    http_reply r;
    r.status = res.result_int();
    r.version = res.version();
    for (auto const& f : res) {
        std::string name{f.name_string()};
        for (auto& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string{f.value()};
    }
    r.body = res.body();
    r.keep_alive = res.keep_alive();
    return r;
}

bool http_client::closed_by_server(std::chrono::milliseconds timeout)
{
    // Anything still buffered means the server sent more than a reply.
    if (buffer_.size() != 0)
        return false;
    beast::error_code result;
    std::size_t got = 0;
    char byte = 0;
    stream_.expires_after(timeout);
    stream_.async_read_some(asio::buffer(&byte, 1), [&](beast::error_code ec, std::size_t n) {
        result = ec;
        got = n;
    });
    run_for(timeout + std::chrono::seconds{1});
    return got == 0 && (result == asio::error::eof || result == asio::error::connection_reset);
}

bool http_client::open_after(std::chrono::milliseconds wait)
{
    // Read with our own timer, so the connection stays usable when it fires.
    beast::error_code result;
    bool waited_out = false;
    char byte = 0;
    asio::steady_timer timer{ioc_, wait};
    stream_.socket().async_read_some(asio::buffer(&byte, 1), [&](beast::error_code ec, std::size_t) {
        result = ec;
        timer.cancel();
    });
    timer.async_wait([&](beast::error_code ec) {
        if (!ec) {
            waited_out = true;
            stream_.socket().cancel();
        }
    });
    run_for(wait + std::chrono::seconds{5});
    return waited_out && result == asio::error::operation_aborted;
}

bool connection_refused(std::uint16_t port)
{
    asio::io_context ioc;
    tcp::socket socket{ioc};
    beast::error_code ec;
    socket.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port}, ec);
    return ec == asio::error::connection_refused;
}

nlohmann::json stats(std::uint16_t port)
{
    http_client client{port};
    return client.get("/stats").json();
}

std::uint64_t proc_status_kib(pid_t pid, std::string const& field)
{
    std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with(field + ":"))
            return std::stoull(line.substr(field.size() + 1));
    return 0;
}

std::map<std::string, int> thread_nice_values(pid_t pid)
{
    std::map<std::string, int> out;
    std::error_code ec;
    for (auto const& task : std::filesystem::directory_iterator(std::filesystem::path{"/proc"} / std::to_string(pid) / "task", ec)) {
        std::ifstream comm_file{task.path() / "comm"};
        std::ifstream stat_file{task.path() / "stat"};
        std::string name;
        std::string stat;
        if (!std::getline(comm_file, name) || !std::getline(stat_file, stat))
            continue; // the thread has exited
        // stat is "tid (comm) state ppid ..."; nice is the 17th field after the comm's ')'.
        std::istringstream fields{stat.substr(stat.rfind(')') + 1)};
        std::string field;
        for (int i = 0; i < 16; ++i)
            fields >> field;
        int nice = 0;
        if (fields >> nice)
            out[name] = nice;
    }
    return out;
}

interval interval_of(nlohmann::json const& body)
{
    return interval{body.at("worker").get<int>(), body.at("start_ns").get<std::int64_t>(), body.at("end_ns").get<std::int64_t>()};
}

} // namespace cvp::test
