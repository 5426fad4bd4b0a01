/// The model list as the binary prints it: every test here runs on every model it lists.

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

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

} // namespace
} // namespace cvp::test
