#pragma once

/// What the integration tests share: a cvp-server child process on port 0, and a small
/// HTTP/1.1 client over one connection. Every wait is bounded, so a broken server fails
/// a test instead of hanging it.

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cvp::test {

/// One execution model, as `cvp-server --list-models` describes it.
struct model_info
{
    std::string name;
    std::string description;
    std::vector<std::string> sizing_flags;
    /// The `kind` values of its workers in /stats.
    std::vector<std::string> worker_kinds;
    /// The kind of thread that serves its connections (and its timer waits).
    std::string serving_kind;
    /// The kind of thread it runs CPU and blocking work on.
    std::string work_kind;
};

/// What the server binary prints for `--list-models` (it must exit 0).
std::string list_models_output();

/// The models, read once from the binary under test, in its order: the tests keep no
/// list of their own.
std::vector<model_info> const& models();

/// Their names, for parameterised tests.
std::vector<std::string> const& all_modes();

/// The model named `mode`.
model_info const& model(std::string const& mode);

inline std::string serving_kind(std::string const& mode)
{
    return model(mode).serving_kind;
}

inline std::string work_kind(std::string const& mode)
{
    return model(mode).work_kind;
}

/// A bound on every wait in the tests: generous, because sanitizer builds on a busy
/// 2-core machine are slow. It is a safety net, never the property being tested.
inline constexpr std::chrono::seconds patience{20};

/// CLOCK_MONOTONIC, the clock the server's start_ns/end_ns use.
std::int64_t now_ns();

/// A running cvp-server. Killed (if still running) when destroyed.
class server_process
{
public:
    /// Starts the server with `--address 127.0.0.1 --port 0` plus `args`, and waits for
    /// its start-up line. A `launcher` (such as `prlimit --nofile=256`) goes in front and
    /// must exec the server in its own process.
    explicit server_process(std::vector<std::string> args, std::vector<std::string> launcher = {});
    ~server_process();
    server_process(server_process const&) = delete;
    server_process& operator=(server_process const&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    pid_t pid() const noexcept { return pid_; }
    std::string const& startup_line() const noexcept { return startup_line_; }

    /// Sends a signal to the server.
    void signal(int sig) const;

    /// Waits for the server to exit; its exit status, or empty if it is still running
    /// after `timeout` (or died by a signal: then -signal).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string startup_line_;
    bool exited_ = false;
};

/// One HTTP response as the client saw it.
struct http_reply
{
    unsigned status = 0;
    /// 10 or 11, from the status line.
    unsigned version = 0;
    /// Header names in lower case.
    std::map<std::string, std::string> headers;
    std::string body;
    bool keep_alive = false;

    nlohmann::json json() const { return nlohmann::json::parse(body); }
    std::string header(std::string const& name) const;
};

/// One client connection to 127.0.0.1:port.
class http_client
{
public:
    explicit http_client(std::uint16_t port);

    /// Sends a request and reads its reply.
    http_reply request(std::string const& target, boost::beast::http::verb method = boost::beast::http::verb::get, unsigned version = 11,
                       std::map<std::string, std::string> const& headers = {});
    http_reply get(std::string const& target) { return request(target); }

    /// Sends a request without waiting for the reply.
    void send(std::string const& target, boost::beast::http::verb method = boost::beast::http::verb::get);

    /// Writes raw bytes, for pipelining and malformed input.
    void send_raw(std::string const& bytes);

    /// Writes `bytes` as far as the server takes them; stops quietly when it closes.
    /// Returns how many were written.
    std::size_t send_while_open(std::string const& bytes);

    /// Reads one reply. `head` says it answers a HEAD request (no body follows).
    http_reply read_reply(bool head = false);

    /// True once the server has closed the connection: a read ends in EOF or reset
    /// within `timeout` with no bytes.
    bool closed_by_server(std::chrono::milliseconds timeout = patience);

    /// True if the connection is still open and silent after `wait`; it stays usable.
    bool open_after(std::chrono::milliseconds wait);

private:
    /// Runs the pending asynchronous operation to completion or until `timeout`.
    void run_for(std::chrono::milliseconds timeout);

    boost::asio::io_context ioc_;
    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
};

/// True if a TCP connection to 127.0.0.1:port is refused.
bool connection_refused(std::uint16_t port);

/// GET /stats on a fresh connection.
nlohmann::json stats(std::uint16_t port);

/// A figure in kB from /proc/<pid>/status, such as "VmRSS" or "VmHWM" (the peak RSS).
std::uint64_t proc_status_kib(pid_t pid, std::string const& field);

/// The nice value of each named thread of process `pid`, from /proc/<pid>/task.
std::map<std::string, int> thread_nice_values(pid_t pid);

/// Polls `done()` until it returns true, at most `patience`. Returns whether it did.
template <class Done>
bool eventually(Done done)
{
    auto const deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    return false;
}

/// Polls /stats until `pred` holds, at most `patience`. Returns whether it held.
template <class Pred>
bool wait_for_stats(std::uint16_t port, Pred pred)
{
    return eventually([&] { return pred(stats(port)); });
}

/// A work interval the server reported.
struct interval
{
    int worker;
    std::int64_t start_ns;
    std::int64_t end_ns;
};
interval interval_of(nlohmann::json const& body);

/// True if two intervals share some time.
inline bool overlap(interval const& a, interval const& b)
{
    return a.start_ns < b.end_ns && b.start_ns < a.end_ns;
}

} // namespace cvp::test
