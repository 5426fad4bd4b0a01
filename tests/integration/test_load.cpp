/// cvp-load against real servers: a known wait measured from the due time on every model,
/// with as many requests sent and answered as the schedule asked for (the server counts
/// them too); a stall counted late rather than skipped; requests past the backlog dropped
/// and counted; timeouts and each kind of bad answer counted by kind; runs by N processes
/// at rate/N merged exactly; and the exit statuses. Only lower bounds of time are
/// asserted (a wait cannot be shorter than the server's sleep); accuracy is measured in
/// the lab, not here.

#include "tests/integration/harness.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cvp::test {
namespace {

namespace fs = std::filesystem;

/// What one cvp-load process did.
struct load_run
{
    int status = -1;
    std::string out;
    std::string err;
    nlohmann::json json;
};

/// A folder of its own for each test's files, removed afterwards.
class scratch
{
public:
    scratch()
        : dir_(fs::temp_directory_path() / ("cvp-load-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_++)))
    {
        fs::create_directories(dir_);
    }
    ~scratch() { fs::remove_all(dir_); }
    fs::path file(std::string const& name) const { return dir_ / name; }

private:
    fs::path dir_;
    static inline std::atomic<int> next_{0};
};

std::string quoted(std::string const& s)
{
    // Each ' becomes '\'' inside single quotes.
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q.append("'\\''");
        else
            q.push_back(c);
    }
    q.push_back('\'');
    return q;
}

std::string read_file(fs::path const& p)
{
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The shell line that runs cvp-load with `args`, its errors to `err`.
std::string load_line(std::vector<std::string> const& args, fs::path const& err)
{
    std::string line = quoted(CVP_LOAD_BINARY);
    for (auto const& a : args) {
        line.push_back(' ');
        line.append(quoted(a));
    }
    line.append(" 2>");
    line.append(quoted(err.string()));
    return line;
}

/// Runs cvp-load with `args` (plus `--json` into `dir` when `json`) and waits for it.
load_run run_load(scratch const& dir, std::vector<std::string> args, bool json = true)
{
    // Generators run from several threads at once: each run takes a number of its own.
    static std::atomic<int> runs{0};
    auto const n = runs++;
    auto const out_json = dir.file("run" + std::to_string(n) + ".json");
    auto const err = dir.file("run" + std::to_string(n) + ".err");
    if (json) {
        args.push_back("--json");
        args.push_back(out_json.string());
    }
    FILE* p = ::popen(load_line(args, err).c_str(), "r");
    if (p == nullptr)
        throw std::runtime_error("cannot run cvp-load");
    load_run r;
    char buf[512];
    for (std::size_t got; (got = std::fread(buf, 1, sizeof buf, p)) > 0;)
        r.out.append(buf, got);
    auto const status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_file(err);
    if (json && fs::exists(out_json))
        r.json = nlohmann::json::parse(read_file(out_json));
    return r;
}

std::string url(std::uint16_t port, std::string const& path)
{
    return "http://127.0.0.1:" + std::to_string(port) + path;
}

/// The run's error counts, all kinds.
std::uint64_t all_errors(nlohmann::json const& j)
{
    std::uint64_t n = 0;
    for (auto const& [k, v] : j.at("errors").items())
        n += v.get<std::uint64_t>();
    return n;
}

/// Every one of the `n` requests the schedule asked for was sent and answered; none dropped.
void expect_every_request_answered(nlohmann::json const& j, int n)
{
    EXPECT_EQ(j.at("scheduled"), n);
    EXPECT_EQ(j.at("sent"), n);
    EXPECT_EQ(j.at("completed"), n);
    EXPECT_EQ(j.at("dropped"), 0);
}

class load_on_every_model : public ::testing::TestWithParam<std::string>
{
};

TEST_P(load_on_every_model, a_known_wait_is_timed_from_its_due_time_and_every_scheduled_request_is_answered)
{
    server_process server({"--mode", GetParam()});
    scratch dir;
    auto const before = stats(server.port()).at("totals").at("requests").get<std::uint64_t>();
    // 40 requests a second for 1 s, each waiting 10 ms in the server.
    auto const r = run_load(dir, {"--rate", "40", "--duration", "1", "--quiet", url(server.port(), "/io/sleep?ms=10")});
    ASSERT_EQ(r.status, 0) << r.err;
    auto const& j = r.json;
    // The schedule's count, exactly: 40 per second for one second.
    expect_every_request_answered(j, 40);
    EXPECT_EQ(j.at("unfinished"), 0);
    EXPECT_EQ(all_errors(j), 0U) << j.at("errors");
    EXPECT_EQ(j.at("status").at("200"), 40);
    EXPECT_EQ(j.at("histogram").at("count"), 40);
    EXPECT_EQ(j.at("rate_asked"), 40);
    // No answer can come sooner than the server's 10 ms, from the send or from the due time.
    EXPECT_GE(j.at("service_us").at("min").get<std::uint64_t>(), 10'000U);
    EXPECT_GE(j.at("latency_us").at("min").get<std::uint64_t>(), j.at("service_us").at("min").get<std::uint64_t>());
    EXPECT_GE(j.at("latency_us").at("max").get<std::uint64_t>(), j.at("service_us").at("max").get<std::uint64_t>());
    // The server saw exactly those requests (and the /stats that asked before).
    auto const after = stats(server.port()).at("totals").at("requests").get<std::uint64_t>();
    EXPECT_EQ(after - before, 40U + 1U);
    EXPECT_GT(j.at("cpu_s").get<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(all_models, load_on_every_model, ::testing::ValuesIn(all_modes()));

TEST(load, a_stall_shows_in_full_as_late_requests_never_as_skipped_ones)
{
    // One connection; once in 20 requests the server blocks its loop for 300 ms. The
    // requests due meanwhile wait for the connection: each is sent late, and its latency
    // counts the wait, as a user's would.
    server_process server({"--mode", "single"});
    scratch dir;
    auto const r = run_load(dir, {"--rate", "100", "--duration", "1", "--max-connections", "1", "--quiet",
                                  "19@" + url(server.port(), "/plaintext"), "1@" + url(server.port(), "/io/block?ms=300")});
    ASSERT_EQ(r.status, 0) << r.err;
    auto const& j = r.json;
    expect_every_request_answered(j, 100);
    EXPECT_EQ(j.at("connections").at("max_open"), 1);
    // 100 a second for 300 ms: about 30 requests came due behind the block.
    EXPECT_GE(j.at("late").get<int>(), 20);
    EXPECT_GE(j.at("send_lag_us").at("max").get<std::uint64_t>(), 200'000U);
    EXPECT_GE(j.at("latency_us").at("max").get<std::uint64_t>(), 300'000U);
    // From its own send, no /plaintext waited for the block: the service time's median
    // stays under the latency's tail, which holds the wait.
    EXPECT_LT(j.at("service_us").at("p50").get<std::uint64_t>(), j.at("latency_us").at("p99").get<std::uint64_t>());
    EXPECT_EQ(j.at("urls").at(1).at("sent"), 5); // the block: exactly 1 in 20
}

TEST(load, requests_past_the_backlog_are_dropped_and_counted)
{
    server_process server({"--mode", "single"});
    scratch dir;
    auto const r = run_load(dir, {"--rate", "100", "--duration", "1", "--max-connections", "1", "--backlog", "0", "--quiet",
                                  "19@" + url(server.port(), "/plaintext"), "1@" + url(server.port(), "/io/block?ms=300")});
    ASSERT_EQ(r.status, 0) << r.err;
    auto const& j = r.json;
    EXPECT_GE(j.at("dropped").get<int>(), 20);
    // Every scheduled request is accounted for: sent or dropped, never silently skipped.
    EXPECT_EQ(j.at("scheduled").get<int>(), j.at("sent").get<int>() + j.at("dropped").get<int>());
    EXPECT_EQ(j.at("completed"), j.at("sent"));
}

TEST(load, an_answer_later_than_the_timeout_is_a_timeout)
{
    server_process server({"--mode", "reactors"});
    scratch dir;
    auto const r =
        run_load(dir, {"--rate", "5", "--duration", "1", "--timeout", "0.3", "--quiet", url(server.port(), "/io/sleep?ms=3000")});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.json.at("errors").at("timeout"), 5);
    EXPECT_EQ(r.json.at("completed"), 0);
    EXPECT_EQ(r.json.at("histogram").at("count"), 0);
}

TEST(load, error_statuses_are_answers_and_counted_as_status_errors)
{
    server_process server({"--mode", "single"});
    scratch dir;
    auto const r = run_load(dir, {"--rate", "20", "--duration", "0.5", "--quiet", url(server.port(), "/no/such/thing")});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.json.at("completed"), 10);
    EXPECT_EQ(r.json.at("status").at("404"), 10);
    EXPECT_EQ(r.json.at("errors").at("status"), 10);
}

/// A server that answers every request on a connection with `answer`, then closes the
/// connection when `close_after` (or keeps reading). It serves until destroyed.
class scripted_server
{
public:
    scripted_server(std::string answer, bool close_after)
        : answer_(std::move(answer))
        , close_after_(close_after)
    {
        acceptor_.open(boost::asio::ip::tcp::v4());
        acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
        acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { serve(); });
    }
    ~scripted_server()
    {
        // A blocking accept does not wake when its socket closes: a last connection wakes it.
        stop_ = true;
        boost::system::error_code ignored;
        boost::asio::ip::tcp::socket waker(ioc_);
        waker.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ignored);
        thread_.join();
        acceptor_.close(ignored);
    }
    std::uint16_t port() const { return port_; }
    int accepted() const { return accepted_; }

private:
    void serve()
    {
        while (!stop_) {
            boost::system::error_code ec;
            auto socket = acceptor_.accept(ec);
            if (ec || stop_)
                return;
            ++accepted_;
            // Each request: its header whole, then the scripted answer.
            boost::asio::streambuf in;
            while (!stop_) {
                auto const n = boost::asio::read_until(socket, in, "\r\n\r\n", ec);
                if (ec)
                    break;
                in.consume(n);
                boost::asio::write(socket, boost::asio::buffer(answer_), ec);
                if (ec || close_after_)
                    break;
            }
        }
    }

    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::acceptor acceptor_{ioc_};
    std::string answer_;
    bool close_after_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

/// The error kinds a run against a scripted answer counted, and how many answers it took.
nlohmann::json errors_against(std::string const& answer, bool close_after, std::uint64_t* completed = nullptr, int* accepted = nullptr)
{
    scripted_server bad(answer, close_after);
    scratch dir;
    auto const r = run_load(dir, {"--rate", "10", "--duration", "0.5", "--timeout", "2", "--quiet", url(bad.port(), "/")});
    EXPECT_EQ(r.status, 0) << r.err;
    if (completed != nullptr)
        *completed = r.json.at("completed").get<std::uint64_t>();
    if (accepted != nullptr)
        *accepted = bad.accepted();
    EXPECT_EQ(r.json.at("unfinished"), 0);
    return r.json.at("errors");
}

TEST(load, each_kind_of_bad_answer_is_counted_by_its_kind)
{
    // No Content-Length: the body would end only at the close, which this tool refuses.
    EXPECT_EQ(errors_against("HTTP/1.1 200 OK\r\n\r\nhello", true).at("framing"), 5);
    // Not HTTP at all.
    EXPECT_EQ(errors_against("SSH-2.0-OpenSSH\r\n\r\n", false).at("framing"), 5);
    // More bytes after the answer than one request could have asked for.
    EXPECT_EQ(errors_against("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", false).at("framing"), 5);
    // A body cut short by the close.
    EXPECT_EQ(errors_against("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true).at("read"), 5);
    // Closed before a byte of the answer.
    EXPECT_EQ(errors_against("", true).at("closed"), 5);
}

TEST(load, an_answer_that_closes_the_connection_is_fine_and_the_next_request_opens_another)
{
    std::uint64_t completed = 0;
    int accepted = 0;
    auto const errors = errors_against("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", true, &completed, &accepted);
    EXPECT_EQ(errors.at("framing"), 0);
    EXPECT_EQ(errors.at("closed"), 0);
    EXPECT_EQ(completed, 5U);
    EXPECT_GE(accepted, 5);
}

TEST(load, runs_of_n_generators_at_rate_over_n_merge_exactly)
{
    server_process server({"--mode", "reactors"});
    scratch dir;
    // Three generators at once, 30 a second each, with Poisson arrivals of their own seed.
    std::vector<std::thread> gens;
    std::vector<load_run> runs(3);
    for (int i = 0; i < 3; ++i)
        gens.emplace_back([&, i] {
            runs[static_cast<std::size_t>(i)] = run_load(dir, {"--rate", "30", "--duration", "1", "--arrival", "poisson", "--seed",
                                                               std::to_string(i + 1), "--quiet", url(server.port(), "/io/sleep?ms=5")});
        });
    for (auto& t : gens)
        t.join();
    std::vector<std::string> merge_args = {"merge"};
    std::uint64_t sent = 0;
    std::map<std::uint64_t, std::uint64_t> buckets;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        ASSERT_EQ(runs[i].status, 0) << runs[i].err;
        auto const path = dir.file("gen" + std::to_string(i) + ".json");
        std::ofstream(path) << runs[i].json.dump();
        merge_args.push_back(path.string());
        sent += runs[i].json.at("sent").get<std::uint64_t>();
        for (auto const& b : runs[i].json.at("histogram").at("buckets"))
            buckets[b.at(0).get<std::uint64_t>()] += b.at(1).get<std::uint64_t>();
    }
    auto const merged = run_load(dir, merge_args);
    ASSERT_EQ(merged.status, 0) << merged.err;
    auto const& m = merged.json;
    EXPECT_EQ(m.at("generators"), 3);
    EXPECT_EQ(m.at("rate_asked"), 90);
    EXPECT_EQ(m.at("sent").get<std::uint64_t>(), sent);
    EXPECT_EQ(m.at("histogram").at("count").get<std::uint64_t>(), sent);
    // Bucket by bucket, the merged histogram is the sum of the three.
    std::map<std::uint64_t, std::uint64_t> merged_buckets;
    for (auto const& b : m.at("histogram").at("buckets"))
        merged_buckets[b.at(0).get<std::uint64_t>()] = b.at(1).get<std::uint64_t>();
    EXPECT_EQ(merged_buckets, buckets);
    EXPECT_GE(m.at("latency_us").at("min").get<std::uint64_t>(), 5'000U);
}

TEST(load, a_target_that_refuses_exits_1_and_bad_flags_exit_2_naming_them)
{
    scratch dir;
    // A port nobody listens on: 1 on loopback.
    auto const refused = run_load(dir, {"--rate", "10", "--duration", "0.2", url(1, "/")}, false);
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("cannot connect"), std::string::npos) << refused.err;
    auto const bad = run_load(dir, {"--rate", "-3", url(1, "/")}, false);
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("--rate -3"), std::string::npos) << bad.err;
    auto const unknown = run_load(dir, {"--rate", "3", "--rps", "4", url(1, "/")}, false);
    EXPECT_EQ(unknown.status, 2);
    EXPECT_NE(unknown.err.find("unknown flag --rps"), std::string::npos) << unknown.err;
    auto const unreadable = run_load(dir, {"merge", dir.file("none.json").string(), "--json", "-"}, false);
    EXPECT_EQ(unreadable.status, 1);
    EXPECT_NE(unreadable.err.find("cannot read"), std::string::npos) << unreadable.err;
}

} // namespace
} // namespace cvp::test
