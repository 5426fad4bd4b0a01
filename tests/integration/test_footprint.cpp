/// What a connection costs the server in descriptors, in every model: its socket and
/// nothing else. In `threads` too, where each connection has a thread of its own.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cvp::test {
namespace {

class footprint : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};

    /// Descriptors the server holds now.
    std::size_t server_descriptors() const
    {
        std::size_t n = 0;
        for ([[maybe_unused]] auto const& e : std::filesystem::directory_iterator{"/proc/" + std::to_string(server_.pid()) + "/fd"})
            ++n;
        return n;
    }

    /// Opens `n` connections, each served once and then left idle.
    void open_idle(std::vector<std::unique_ptr<http_client>>& clients, int n) const
    {
        for (int i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<http_client>(server_.port()));
            ASSERT_EQ(clients.back()->get("/plaintext").status, 200u);
        }
    }
};

TEST_P(footprint, an_idle_connection_holds_one_descriptor)
{
    // A first batch gives every loop its first connection, which makes the loop's reactor
    // (its epoll, eventfd and timerfd) in the models that make it lazily.
    constexpr int batch = 16;
    std::vector<std::unique_ptr<http_client>> clients;
    open_idle(clients, batch);
    auto const before = server_descriptors();

    // A second batch adds its sockets and nothing more.
    open_idle(clients, batch);
    EXPECT_EQ(server_descriptors() - before, static_cast<std::size_t>(batch));
}

INSTANTIATE_TEST_SUITE_P(all_models, footprint, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
