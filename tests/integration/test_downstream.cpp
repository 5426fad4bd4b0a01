/// /io/http in every model: a real downstream (a second cvp-server), downstreams that
/// misbehave on purpose (small fake servers in this process), a full pool, a stale idle
/// connection, a downstream killed and restarted, and a drain with calls in flight.
/// Every property is read from what the server reports: the bodies' start_ns/end_ns,
/// /stats' pools and their counters.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cvp::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------
// sockets for the fake downstreams

/// A TCP socket bound to 127.0.0.1 on a free port; listening when `backlog` is set.
int bound_socket(std::optional<int> backlog, std::uint16_t& port)
{
    int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || (backlog && ::listen(fd, *backlog) != 0)) {
        ::close(fd);
        throw std::runtime_error("bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}

/// Reads one request head (up to the blank line), within `patience`. False on close.
bool read_request(int fd)
{
    std::string seen;
    auto const deadline = std::chrono::steady_clock::now() + patience;
    while (seen.find("\r\n\r\n") == std::string::npos) {
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            return false;
        char buf[1024];
        auto const n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return false;
        seen.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

void write_all(int fd, std::string const& bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        auto const n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        sent += static_cast<std::size_t>(n);
    }
}

/// A keep-alive 200 with a JSON body.
std::string json_answer(std::string const& body)
{
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// Closes `fd` with a reset (SO_LINGER 0) instead of a FIN.
void close_with_reset(int fd)
{
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

/// A downstream in this process: one thread accepts connections on 127.0.0.1 and runs
/// `serve` on each, one at a time. `serve` gets the connection's index and its
/// descriptor; it may close it and set it to -1, else the connection stays open until
/// the fake is destroyed (so a silent one never answers).
class fake_downstream
{
public:
    using behaviour = std::function<void(int& fd, int index)>;

    explicit fake_downstream(behaviour serve)
        : serve_(std::move(serve))
        , listen_fd_(bound_socket(16, port_))
        , thread_([this] { run(); })
    {}
    ~fake_downstream()
    {
        stop_ = true;
        thread_.join();
        for (int fd : kept_)
            ::close(fd);
        ::close(listen_fd_);
    }
    fake_downstream(fake_downstream const&) = delete;
    fake_downstream& operator=(fake_downstream const&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    int accepted() const noexcept { return accepted_; }

private:
    void run()
    {
        // Polls in short steps so that destruction is never kept waiting long.
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0)
                continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            int const index = accepted_++;
            serve_(fd, index);
            if (fd >= 0)
                kept_.push_back(fd);
        }
    }

    behaviour serve_;
    std::uint16_t port_ = 0;
    int listen_fd_;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::vector<int> kept_;
    std::thread thread_;
};

/// Connections waiting in the accept queue of the listening socket on `port`, from
/// /proc/net/tcp (its rx_queue column for a listening socket).
int accept_queue_length(std::uint16_t port)
{
    std::ifstream in{"/proc/net/tcp"};
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::istringstream fields{line};
        std::string slot, local, remote, state, queues;
        fields >> slot >> local >> remote >> state >> queues;
        auto const colon = local.find(':');
        if (state != "0A" || colon == std::string::npos || std::stoul(local.substr(colon + 1), nullptr, 16) != port)
            continue;
        return static_cast<int>(std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16));
    }
    return -1;
}

// ---------------------------------------------------------------------------------------
// what /stats says of the downstream pools

json const& pools_of(json const& s)
{
    return s.at("downstream").at("pools");
}

/// A figure ("created", "in_use", ...) summed over every pool.
std::uint64_t pool_sum(json const& s, std::string const& figure)
{
    std::uint64_t sum = 0;
    for (auto const& p : pools_of(s))
        sum += p.at(figure).get<std::uint64_t>();
    return sum;
}

/// A fault's count summed over every pool.
std::uint64_t fault_sum(json const& s, std::string const& fault)
{
    std::uint64_t sum = 0;
    for (auto const& p : pools_of(s))
        sum += p.at("faults").at(fault).get<std::uint64_t>();
    return sum;
}

/// Every fault's count summed over every pool.
std::uint64_t all_faults(json const& s)
{
    std::uint64_t sum = 0;
    for (auto const& p : pools_of(s))
        for (auto const& [name, count] : p.at("faults").items())
            sum += count.get<std::uint64_t>();
    return sum;
}

std::string origin(std::uint16_t port)
{
    return "http://127.0.0.1:" + std::to_string(port);
}

// ---------------------------------------------------------------------------------------
// the tests, in every model

class downstream : public ::testing::TestWithParam<std::string>
{
protected:
    /// The server under test in this model, calling the downstream on `port`, with `extra` flags.
    std::unique_ptr<server_process> start(std::uint16_t port, std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> args{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2", "--upstream", origin(port)};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<server_process>(std::move(args));
    }

    /// Where each loop has its own pool, one loop only, so that every call shares one pool.
    std::vector<std::string> one_pool() const
    {
        if (serving_kind(GetParam()) == "loop")
            return {"--threads", "1"};
        return {};
    }

    /// A cvp-server in `single`, to be the downstream.
    static std::unique_ptr<server_process> start_downstream(std::vector<std::string> extra = {})
    {
        std::vector<std::string> args{"--mode", "single"};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<server_process>(std::move(args));
    }

    /// One /io/http that fails with `status` and `fault`; the server then still serves,
    /// counts the fault once, and keeps no broken connection.
    static void expect_fault(server_process const& server, std::uint16_t downstream_port, unsigned status, std::string const& fault)
    {
        http_client client{server.port()};
        auto r = client.get("/io/http?ms=5");
        ASSERT_EQ(r.status, status) << r.body;
        EXPECT_EQ(r.header("content-type"), "application/json");
        auto body = r.json();
        EXPECT_EQ(body["fault"], fault) << r.body;
        EXPECT_EQ(body["status"], status);
        EXPECT_EQ(body["downstream"], origin(downstream_port));
        EXPECT_FALSE(body["error"].get<std::string>().empty());

        // Still serving, on the same connection and on a new one.
        EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
        EXPECT_EQ(http_client{server.port()}.get("/plaintext").status, 200u);

        // Counted once, as that fault and no other; the failed connection is not kept.
        auto s = stats(server.port());
        EXPECT_EQ(fault_sum(s, fault), 1u) << s["downstream"].dump();
        EXPECT_EQ(all_faults(s), 1u) << s["downstream"].dump();
        EXPECT_EQ(pool_sum(s, "open"), 0u) << s["downstream"].dump();
        EXPECT_EQ(pool_sum(s, "in_use"), 0u) << s["downstream"].dump();
    }
};

TEST_P(downstream, calls_a_real_downstream_and_reuses_its_connection)
{
    auto ds = start_downstream();
    auto server = start(ds->port());
    http_client client{server->port()};

    // The downstream's answer comes back whole, inside the call's interval.
    auto r = client.get("/io/http?ms=5");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_NE(r.header("server-timing").find("upstream;dur="), std::string::npos) << r.header("server-timing");
    auto body = r.json();
    EXPECT_EQ(body["mode"], GetParam());
    EXPECT_EQ(body["ms"], 5);
    EXPECT_EQ(body["downstream"], origin(ds->port()));
    EXPECT_EQ(body["status"], 200);
    EXPECT_EQ(body["reused"], false);
    EXPECT_EQ(body["attempts"], 1);
    EXPECT_GE(body["queued_ns"].get<std::int64_t>(), 0);
    auto const& answer = body["answer"];
    EXPECT_EQ(answer["mode"], "single");
    EXPECT_EQ(answer["ms"], 5);
    EXPECT_GE(answer["end_ns"].get<std::int64_t>() - answer["start_ns"].get<std::int64_t>(), 5'000'000);
    EXPECT_LE(body["start_ns"].get<std::int64_t>(), answer["start_ns"].get<std::int64_t>());
    EXPECT_GE(body["end_ns"].get<std::int64_t>(), answer["end_ns"].get<std::int64_t>());

    // The second call takes the idle connection the first left.
    auto second = client.get("/io/http?ms=5");
    ASSERT_EQ(second.status, 200u) << second.body;
    EXPECT_EQ(second.json()["reused"], true);
    EXPECT_EQ(second.json()["attempts"], 1);

    auto s = stats(server->port());
    EXPECT_EQ(s["downstream"]["origin"], origin(ds->port()));
    EXPECT_EQ(pool_sum(s, "created"), 1u) << s["downstream"].dump();
    EXPECT_GE(pool_sum(s, "reused"), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "idle"), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "in_use"), 0u) << s["downstream"].dump();
    EXPECT_EQ(all_faults(s), 0u) << s["downstream"].dump();
    // Where each loop has a pool, the one of the loop that served both calls.
    if (serving_kind(GetParam()) == "loop") {
        std::string const name = "loop " + std::to_string(body["worker"].get<int>());
        for (auto const& p : pools_of(s))
            EXPECT_EQ(p["created"], p["name"] == name ? 1 : 0) << p.dump();
    }

    // /metrics has the pools too.
    auto metrics = client.get("/metrics").body;
    EXPECT_NE(metrics.find("cvp_downstream_connections_created_total{"), std::string::npos);
    EXPECT_NE(metrics.find("cvp_downstream_failures_total{"), std::string::npos);
}

TEST_P(downstream, pools_are_named_as_the_model_serves)
{
    // Nothing is called: the origin need not answer.
    std::uint16_t unused = 0;
    int const fd = bound_socket(std::nullopt, unused);
    auto server = start(unused, {"--upstream-connections", "3", "--upstream-queue", "5"});
    auto s = stats(server->port());
    ::close(fd);

    auto const& pools = pools_of(s);
    ASSERT_FALSE(pools.empty());
    for (auto const& p : pools) {
        EXPECT_EQ(p["capacity"], 3);
        EXPECT_EQ(p["queue_capacity"], 5);
        EXPECT_EQ(p["open"], 0);
        // Every fault of docs/API.md, each counted from zero.
        EXPECT_EQ(p["faults"].size(), 10u);
        for (char const* f : {"refused", "connect_failed", "connect_timeout", "timeout", "reset", "bad_response", "too_large", "exhausted",
                              "queue_timeout", "query_failed"})
            EXPECT_EQ(p["faults"].value(f, -1), 0) << f;
    }
    if (serving_kind(GetParam()) == "loop") {
        // "loop N" for each loop N, and no other.
        std::size_t loops = 0;
        for (auto const& w : s["workers"])
            loops += w["kind"] == "loop" ? 1u : 0u;
        EXPECT_EQ(pools.size(), loops);
        for (std::size_t i = 0; i < pools.size(); ++i) {
            auto const name = pools[i]["name"].get<std::string>();
            ASSERT_EQ(name.rfind("loop ", 0), 0u) << name;
            auto const worker = std::stoul(name.substr(5));
            EXPECT_EQ(s["workers"][worker]["kind"], "loop") << name;
        }
    } else {
        // One pool shared by every thread.
        ASSERT_EQ(pools.size(), 1u);
        EXPECT_EQ(pools[0]["name"], "shared");
    }
}

TEST_P(downstream, without_upstream_io_http_is_503_naming_the_flag)
{
    server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
    http_client client{server.port()};
    auto r = client.get("/io/http?ms=5");
    ASSERT_EQ(r.status, 503u);
    EXPECT_NE(r.json()["error"].get<std::string>().find("--upstream"), std::string::npos) << r.body;
    EXPECT_TRUE(stats(server.port())["downstream"].is_null());

    // A bad ms is the client's fault whether or not there is a downstream.
    EXPECT_EQ(client.get("/io/http?ms=abc").status, 400u);
    EXPECT_EQ(client.get("/io/http?ms=-1").status, 400u);
    EXPECT_EQ(client.get("/io/http?ms=5&x=1").status, 400u);
}

TEST_P(downstream, a_bad_ms_is_400_and_calls_nothing)
{
    auto ds = start_downstream();
    auto server = start(ds->port());
    http_client client{server->port()};
    auto r = client.get("/io/http?ms=abc");
    EXPECT_EQ(r.status, 400u);
    EXPECT_NE(r.body.find("ms"), std::string::npos) << r.body;
    EXPECT_EQ(pool_sum(stats(server->port()), "created"), 0u);
}

TEST_P(downstream, refused_is_502)
{
    // Bound, never listening: a connection to it is refused.
    std::uint16_t port = 0;
    int const fd = bound_socket(std::nullopt, port);
    auto server = start(port);
    expect_fault(*server, port, 502, "refused");
    ::close(fd);
}

TEST_P(downstream, a_connection_reset_before_the_answer_is_502)
{
    fake_downstream fake{[](int& fd, int) {
        read_request(fd);
        close_with_reset(fd);
        fd = -1;
    }};
    auto server = start(fake.port());
    expect_fault(*server, fake.port(), 502, "reset");
}

TEST_P(downstream, a_downstream_that_never_answers_is_504)
{
    // It reads the request and keeps the connection open, silent.
    fake_downstream fake{[](int& fd, int) { read_request(fd); }};
    auto server = start(fake.port(), {"--upstream-timeout", "300ms"});
    expect_fault(*server, fake.port(), 504, "timeout");
}

TEST_P(downstream, an_answer_that_is_not_http_is_502)
{
    fake_downstream fake{[](int& fd, int) {
        read_request(fd);
        write_all(fd, "HELLO\r\n\r\n");
    }};
    auto server = start(fake.port());
    expect_fault(*server, fake.port(), 502, "bad_response");
}

TEST_P(downstream, an_answer_over_the_body_limit_is_502)
{
    fake_downstream fake{[](int& fd, int) {
        read_request(fd);
        write_all(fd, json_answer("\"" + std::string(2000, 'x') + "\""));
    }};
    auto server = start(fake.port(), {"--upstream-max-body", "1024"});
    expect_fault(*server, fake.port(), 502, "too_large");
}

/// A listener whose accept queue is full (backlog 0, one connection waiting): Linux drops
/// every further SYN, so a connect to it hangs until its timeout. Closed when destroyed.
class full_listener
{
public:
    full_listener()
        : listener_(bound_socket(0, port_))
        , filler_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
    {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port_);
        if (::connect(filler_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("cannot connect the filler");
    }
    ~full_listener()
    {
        ::close(filler_);
        ::close(listener_);
    }
    full_listener(full_listener const&) = delete;
    full_listener& operator=(full_listener const&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    /// True once the filler waits in the accept queue (so the queue is full).
    bool full() const { return accept_queue_length(port_) == 1; }

private:
    std::uint16_t port_ = 0;
    int listener_;
    int filler_;
};

TEST_P(downstream, a_downstream_that_accepts_no_connection_in_time_is_504)
{
    full_listener hung;
    ASSERT_TRUE(eventually([&] { return hung.full(); }));
    auto server = start(hung.port(), {"--upstream-connect-timeout", "300ms"});
    expect_fault(*server, hung.port(), 504, "connect_timeout");
}

TEST_P(downstream, a_call_that_waits_past_its_deadline_for_a_connection_is_504)
{
    // The only connection is being opened, and the connect takes longer than a call may
    // wait in line (--upstream-timeout); the connect has its own bound.
    full_listener hung;
    ASSERT_TRUE(eventually([&] { return hung.full(); }));
    auto extra = one_pool();
    extra.insert(extra.end(), {"--upstream-connections", "1", "--upstream-queue", "4", "--upstream-connect-timeout", "2s",
                               "--upstream-timeout", "300ms"});
    auto server = start(hung.port(), extra);

    http_client first{server->port()};
    first.send("/io/http?ms=1");
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return pool_sum(s, "in_use") == 1; }));
    http_client second{server->port()};
    auto r = second.get("/io/http?ms=1");
    ASSERT_EQ(r.status, 504u) << r.body;
    EXPECT_EQ(r.json()["fault"], "queue_timeout");

    // The first gives up on its connect later, and nothing is left behind.
    auto a = first.read_reply();
    ASSERT_EQ(a.status, 504u) << a.body;
    EXPECT_EQ(a.json()["fault"], "connect_timeout");
    auto s = stats(server->port());
    EXPECT_EQ(fault_sum(s, "queue_timeout"), 1u) << s["downstream"].dump();
    EXPECT_EQ(fault_sum(s, "connect_timeout"), 1u) << s["downstream"].dump();
    EXPECT_EQ(all_faults(s), 2u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "waited"), 1u);
    EXPECT_EQ(pool_sum(s, "waiting"), 0u);
    EXPECT_EQ(pool_sum(s, "in_use"), 0u);
    EXPECT_EQ(http_client{server->port()}.get("/plaintext").status, 200u);
}

TEST_P(downstream, a_downstream_error_status_is_502_and_keeps_the_connection)
{
    fake_downstream fake{[](int& fd, int) {
        // Two requests on one keep-alive connection, both answered 500.
        for (int i = 0; i < 2 && read_request(fd); ++i)
            write_all(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}");
    }};
    auto server = start(fake.port(), one_pool());
    http_client client{server->port()};
    for (int i = 0; i < 2; ++i) {
        auto r = client.get("/io/http?ms=1");
        ASSERT_EQ(r.status, 502u) << r.body;
        EXPECT_EQ(r.json()["fault"], "status");
        EXPECT_EQ(r.json()["downstream_status"], 500);
    }
    // A whole answer: not a fault of the connection, which is kept and reused.
    auto s = stats(server->port());
    EXPECT_EQ(all_faults(s), 0u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "created"), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "reused"), 1u) << s["downstream"].dump();
    EXPECT_EQ(fake.accepted(), 1);
}

TEST_P(downstream, an_answer_that_closes_is_not_kept)
{
    fake_downstream fake{[](int& fd, int) {
        if (read_request(fd))
            write_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 7\r\n\r\n{\"n\":1}");
        ::close(fd);
        fd = -1;
    }};
    auto server = start(fake.port(), one_pool());
    http_client client{server->port()};
    for (int i = 0; i < 2; ++i) {
        auto r = client.get("/io/http?ms=1");
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_EQ(r.json()["answer"]["n"], 1);
        EXPECT_EQ(r.json()["reused"], false);
        EXPECT_EQ(r.json()["attempts"], 1);
    }
    auto s = stats(server->port());
    EXPECT_EQ(pool_sum(s, "created"), 2u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "open"), 0u) << s["downstream"].dump();
    EXPECT_EQ(all_faults(s), 0u) << s["downstream"].dump();
}

TEST_P(downstream, an_answer_cut_short_is_502_reset)
{
    // Ten bytes of the hundred promised, then the connection closes.
    fake_downstream fake{[](int& fd, int) {
        if (read_request(fd))
            write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        ::close(fd);
        fd = -1;
    }};
    auto server = start(fake.port());
    expect_fault(*server, fake.port(), 502, "reset");
}

TEST_P(downstream, a_full_pool_with_no_queue_refuses_with_503_and_retry_after)
{
    auto ds = start_downstream();
    auto extra = one_pool();
    extra.insert(extra.end(), {"--upstream-connections", "1", "--upstream-queue", "0"});
    auto server = start(ds->port(), extra);

    // One call holds the only connection.
    http_client first{server->port()};
    first.send("/io/http?ms=500");
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return pool_sum(s, "in_use") == 1; }));

    // The next is refused unsent.
    http_client second{server->port()};
    auto r = second.get("/io/http?ms=5");
    ASSERT_EQ(r.status, 503u) << r.body;
    EXPECT_FALSE(r.header("retry-after").empty());
    EXPECT_EQ(r.json()["fault"], "exhausted");
    EXPECT_EQ(r.json()["downstream"], origin(ds->port()));

    // The first is unharmed.
    auto answered = first.read_reply();
    EXPECT_EQ(answered.status, 200u) << answered.body;
    auto s = stats(server->port());
    EXPECT_EQ(fault_sum(s, "exhausted"), 1u) << s["downstream"].dump();
    EXPECT_EQ(all_faults(s), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "created"), 1u);
    EXPECT_EQ(pool_sum(s, "waited"), 0u);
}

TEST_P(downstream, a_full_pool_with_a_queue_makes_the_next_call_wait_for_the_connection)
{
    auto ds = start_downstream();
    auto extra = one_pool();
    extra.insert(extra.end(), {"--upstream-connections", "1", "--upstream-queue", "4"});
    auto server = start(ds->port(), extra);

    http_client first{server->port()};
    first.send("/io/http?ms=300");
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return pool_sum(s, "in_use") == 1; }));
    http_client second{server->port()};
    second.send("/io/http?ms=5");
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return pool_sum(s, "waiting") == 1; }));

    auto a = first.read_reply();
    auto b = second.read_reply();
    ASSERT_EQ(a.status, 200u) << a.body;
    ASSERT_EQ(b.status, 200u) << b.body;
    // The second was handed the first's connection, and sent only once the first was done.
    auto const first_body = a.json();
    auto const second_body = b.json();
    EXPECT_EQ(second_body["reused"], true);
    EXPECT_GE(second_body["start_ns"].get<std::int64_t>(), first_body["end_ns"].get<std::int64_t>());
    EXPECT_GT(second_body["queued_ns"].get<std::int64_t>(), 0);

    auto s = stats(server->port());
    EXPECT_GE(pool_sum(s, "waited"), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "created"), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "waiting"), 0u);
    EXPECT_EQ(all_faults(s), 0u) << s["downstream"].dump();
}

TEST_P(downstream, a_stale_idle_connection_is_replaced_and_the_call_sent_again)
{
    // The first connection answers once with keep-alive, then is closed while idle; the
    // next one answers.
    std::atomic<bool> first_closed{false};
    fake_downstream fake{[&](int& fd, int index) {
        if (!read_request(fd))
            return;
        if (index == 0) {
            write_all(fd, json_answer(R"({"connection":"first"})"));
            ::close(fd);
            fd = -1;
            first_closed = true;
            return;
        }
        write_all(fd, json_answer(R"({"connection":"second"})"));
    }};
    auto server = start(fake.port(), one_pool());
    http_client client{server->port()};

    auto first = client.get("/io/http?ms=1");
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_EQ(first.json()["answer"]["connection"], "first");
    EXPECT_EQ(first.json()["attempts"], 1);
    ASSERT_TRUE(eventually([&] { return first_closed.load(); }));

    auto second = client.get("/io/http?ms=1");
    ASSERT_EQ(second.status, 200u) << second.body;
    EXPECT_EQ(second.json()["answer"]["connection"], "second");
    EXPECT_EQ(second.json()["attempts"], 2);
    EXPECT_EQ(fake.accepted(), 2);

    auto s = stats(server->port());
    EXPECT_EQ(pool_sum(s, "retried"), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "created"), 2u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "open"), 1u) << s["downstream"].dump();
    EXPECT_EQ(all_faults(s), 0u) << s["downstream"].dump();
}

TEST_P(downstream, a_downstream_killed_and_restarted_on_its_port)
{
    auto ds = start_downstream();
    auto const port = ds->port();
    auto server = start(port, one_pool());
    http_client client{server->port()};
    ASSERT_EQ(client.get("/io/http?ms=1").status, 200u);
    ASSERT_EQ(pool_sum(stats(server->port()), "idle"), 1u);

    // Killed: its idle connection is dead and nobody listens any more.
    ds->signal(SIGKILL);
    ASSERT_EQ(ds->wait_exit(patience), -SIGKILL);
    auto r = client.get("/io/http?ms=1");
    ASSERT_EQ(r.status, 502u) << r.body;
    auto const fault = r.json()["fault"].get<std::string>();
    EXPECT_TRUE(fault == "refused" || fault == "reset") << r.body;
    EXPECT_EQ(client.get("/plaintext").status, 200u);
    auto s = stats(server->port());
    EXPECT_EQ(fault_sum(s, fault), 1u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "open"), 0u) << s["downstream"].dump();

    // A new downstream on the same port: calls succeed again, on a new connection.
    ds = start_downstream({"--port", std::to_string(port)});
    ASSERT_EQ(ds->port(), port);
    auto back = client.get("/io/http?ms=1");
    ASSERT_EQ(back.status, 200u) << back.body;
    EXPECT_EQ(back.json()["reused"], false);
    EXPECT_EQ(pool_sum(stats(server->port()), "idle"), 1u);
}

TEST_P(downstream, a_drain_answers_the_calls_in_flight)
{
    auto ds = start_downstream();
    auto server = start(ds->port(), {"--drain-grace", "2s", "--drain-timeout", "15s"});
    constexpr std::size_t calls = 3;
    std::vector<std::unique_ptr<http_client>> clients;
    for (std::size_t i = 0; i < calls; ++i) {
        clients.push_back(std::make_unique<http_client>(server->port()));
        clients.back()->send("/io/http?ms=300");
    }
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return pool_sum(s, "in_use") == calls; }));
    server->signal(SIGTERM);

    // Every call in flight is answered with the downstream's answer, then the server exits cleanly.
    for (auto& c : clients) {
        auto r = c->read_reply();
        EXPECT_EQ(r.status, 200u) << r.body;
        EXPECT_EQ(r.json()["answer"]["ms"], 300);
        EXPECT_FALSE(r.keep_alive);
    }
    EXPECT_EQ(server->wait_exit(patience), 0);
}

INSTANTIATE_TEST_SUITE_P(all_models, downstream, ::testing::ValuesIn(all_modes()));

// ---------------------------------------------------------------------------------------
// single: one thread, many downstream calls at once

TEST(downstream_single, fifty_calls_wait_on_the_downstream_at_the_same_time)
{
    server_process ds{{"--mode", "single"}};
    server_process server{{"--mode", "single", "--upstream", origin(ds.port()), "--upstream-connections", "64"}};

    // All sent, then all read.
    constexpr int calls = 50;
    std::vector<std::unique_ptr<http_client>> clients;
    for (int i = 0; i < calls; ++i)
        clients.push_back(std::make_unique<http_client>(server.port()));
    for (auto& c : clients)
        c->send("/io/http?ms=200");
    std::int64_t latest_start = std::numeric_limits<std::int64_t>::min();
    std::int64_t earliest_end = std::numeric_limits<std::int64_t>::max();
    for (auto& c : clients) {
        auto r = c->read_reply();
        ASSERT_EQ(r.status, 200u) << r.body;
        auto const i = interval_of(r.json());
        latest_start = std::max(latest_start, i.start_ns);
        earliest_end = std::min(earliest_end, i.end_ns);
    }

    // One instant when every call was waiting on the downstream: the one thread never
    // waited for an answer while another call's was pending.
    EXPECT_LT(latest_start, earliest_end) << "latest start " << latest_start << ", earliest end " << earliest_end;
    // So each had a connection of its own: none idle to reuse, none waited.
    auto s = stats(server.port());
    EXPECT_EQ(pool_sum(s, "created"), static_cast<std::uint64_t>(calls)) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "reused"), 0u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "waited"), 0u) << s["downstream"].dump();
    EXPECT_EQ(pool_sum(s, "idle"), static_cast<std::uint64_t>(calls)) << s["downstream"].dump();
}

} // namespace
} // namespace cvp::test
