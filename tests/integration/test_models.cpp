/// The model list as the binary prints it, and what each model does past its descriptor
/// budget: every test here runs on every model the binary lists.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace cvp::test {
namespace {

class models_listed : public ::testing::TestWithParam<std::string>
{
};

TEST(list_models, prints_one_json_document_and_nothing_else)
{
    // The whole output is one document, and every model in it is described.
    auto const doc = nlohmann::json::parse(list_models_output());
    ASSERT_EQ(doc.size(), 1u);
    ASSERT_FALSE(doc.at("models").empty());
    for (auto const& m : doc["models"]) {
        EXPECT_FALSE(m.at("description").get<std::string>().empty()) << m;
        EXPECT_FALSE(m.at("worker_kinds").empty()) << m;
        EXPECT_TRUE(m.at("sizing_flags").is_array()) << m;
    }
}

TEST_P(models_listed, its_worker_kinds_are_those_stats_reports)
{
    auto const& info = model(GetParam());
    server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};

    // Every worker /stats lists is of a kind the list names, and every kind named is there
    // (in `threads`, the /stats request's own connection has its thread).
    http_client client{server.port()};
    auto const reply = client.get("/stats");
    ASSERT_EQ(reply.status, 200u);
    auto const s = reply.json();
    EXPECT_EQ(s["model"]["name"], info.name);
    EXPECT_EQ(s["model"]["description"], info.description);
    std::set<std::string> seen;
    for (auto const& w : s["workers"])
        seen.insert(w["kind"].get<std::string>());
    EXPECT_EQ(seen, std::set<std::string>(info.worker_kinds.begin(), info.worker_kinds.end()));

    // The worker that answered is of the serving kind.
    auto const worker = std::stoul(reply.header("x-worker"));
    EXPECT_EQ(s["workers"][worker]["kind"], info.serving_kind);
}

INSTANTIATE_TEST_SUITE_P(all_models, models_listed, ::testing::ValuesIn(all_modes()));

/// A client of one descriptor (no io_context of its own), so that the test can open
/// hundreds; every wait is bounded by `patience`.
class bare_client
{
public:
    explicit bare_client(std::uint16_t port)
        : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
    {
        timeval tv{patience.count(), 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) == 0;
    }
    ~bare_client() { ::close(fd_); }
    bare_client(bare_client const&) = delete;
    bare_client& operator=(bare_client const&) = delete;

    bool connected() const noexcept { return connected_; }

    /// Sends GET `target` and reads one reply; status 0 when none came whole.
    http_reply get(std::string const& target)
    {
        http_reply r;
        std::string const request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
        if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
            return r;
        // The head, then as much body as Content-Length says.
        std::string in;
        std::size_t head_end = std::string::npos;
        std::size_t length = 0;
        while (head_end == std::string::npos || in.size() < head_end + 4 + length) {
            char buf[4096];
            auto const n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0)
                return r;
            in.append(buf, static_cast<std::size_t>(n));
            if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos)
                length = parse_head(in.substr(0, head_end), r);
        }
        r.body = in.substr(head_end + 4, length);
        return r;
    }

    /// True once the server has closed: a read ends in EOF or a reset, with no bytes.
    bool closed_by_server()
    {
        char c = 0;
        return ::recv(fd_, &c, 1, 0) <= 0 && errno != EAGAIN;
    }

private:
    /// Fills the status and headers (names in lower case); returns the Content-Length.
    static std::size_t parse_head(std::string const& head, http_reply& r)
    {
        r.status = static_cast<unsigned>(std::stoul(head.substr(9, 3)));
        std::size_t at = head.find("\r\n");
        while (at != std::string::npos) {
            auto const next = head.find("\r\n", at + 2);
            auto const line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
            if (auto colon = line.find(':'); colon != std::string::npos) {
                auto name = line.substr(0, colon);
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
                r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
            }
            at = next;
        }
        return std::stoul(r.header("content-length").empty() ? "0" : r.header("content-length"));
    }

    int fd_;
    bool connected_ = false;
};

class descriptor_budget : public ::testing::TestWithParam<std::string>
{
};

TEST_P(descriptor_budget, past_the_open_file_limit_a_connection_gets_503_and_the_server_serves_again)
{
    constexpr std::size_t clients = 400;
    server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}, {"/usr/bin/prlimit", "--nofile=256", "--"}};

    // One connection held throughout reads /stats: the cap, and that the open files set it.
    http_client probe{server.port()};
    auto const before = probe.get("/stats").json();
    auto const cap = before["limits"]["max_connections"].get<std::size_t>();
    ASSERT_EQ(before["limits"]["open_file_limit"], 256) << before["limits"];
    ASSERT_LT(cap, before["limits"]["max_connections_flag"].get<std::size_t>());
    ASSERT_GT(cap, 1u);
    ASSERT_LT(cap, clients);
    EXPECT_NE(server.startup_line().find(" max_connections=" + std::to_string(cap) + " cap_from=open-files "), std::string::npos)
        << server.startup_line();

    // Open 400, one after the other: those within the cap are served and held, the rest
    // answered 503 with a JSON error and closed.
    std::vector<std::unique_ptr<bare_client>> held;
    std::size_t refused = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        auto c = std::make_unique<bare_client>(server.port());
        ASSERT_TRUE(c->connected()) << i;
        auto const r = c->get("/plaintext");
        if (r.status == 200) {
            held.push_back(std::move(c));
            continue;
        }
        ASSERT_EQ(r.status, 503u) << i;
        EXPECT_EQ(r.header("retry-after"), "1");
        EXPECT_EQ(r.json()["error"], "too many connections: the limit of " + std::to_string(cap) + " is reached");
        EXPECT_TRUE(c->closed_by_server()) << i;
        ++refused;
    }

    // The probe and the held ones are exactly the cap.
    EXPECT_EQ(held.size() + 1, cap);
    EXPECT_EQ(held.size() + refused, clients);
    auto const during = probe.get("/stats").json();
    EXPECT_EQ(during["totals"]["connections_rejected"], refused);
    EXPECT_EQ(during["totals"]["connections_open"], cap);

    // Once they close, the server serves as many again.
    held.clear();
    ASSERT_TRUE(eventually([&] { return probe.get("/stats").json()["totals"]["connections_open"] == 1; }));
    for (std::size_t i = 0; i + 1 < cap; ++i) {
        held.push_back(std::make_unique<bare_client>(server.port()));
        ASSERT_EQ(held.back()->get("/plaintext").status, 200u) << i;
    }
    EXPECT_EQ(probe.get("/stats").json()["totals"]["connections_rejected"], refused);
}

INSTANTIATE_TEST_SUITE_P(all_models, descriptor_budget, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
