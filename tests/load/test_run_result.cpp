/// A run's result: its JSON reads back the same, and merging runs adds their counts and
/// histograms, so the merged percentiles are those of all the requests together.

#include "loadtest/load/run_result.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace cvp::load;

/// A run of `n` answers with latencies base, base+step, ...
run_result sample_run(std::uint64_t n, std::uint64_t base, std::uint64_t step, double rate)
{
    run_result r;
    r.target = "http://127.0.0.1:8080";
    r.urls = {{"/plaintext", 1, n, n}};
    r.arrival = "poisson";
    r.seed = 3;
    r.rate_asked = rate;
    r.duration_s = 2;
    r.scheduled = n + 2;
    r.sent = n;
    r.completed = n;
    r.late = 1;
    r.dropped = 2;
    r.errors = {{"timeout", 1}};
    r.status = {{"200", n - 1}, {"503", 1}};
    r.connections_opened = 4;
    r.connections_max_open = 3;
    r.connections_allowed = 100;
    for (std::uint64_t i = 0; i < n; ++i) {
        r.latency.record(base + i * step);
        r.service.record(base / 2 + i * step);
        r.send_lag.record(i % 7);
    }
    r.cpu_s = 0.5;
    r.wall_s = 2.1;
    return r;
}

TEST(run_result, its_json_holds_the_contract_and_reads_back_the_same)
{
    auto const r = sample_run(1000, 100, 3, 500);
    auto const j = to_json(r);
    // The figures the lab and people read.
    EXPECT_EQ(j.at("rate_asked"), 500);
    EXPECT_EQ(j.at("rate_achieved"), 500);
    EXPECT_EQ(j.at("throughput"), 500);
    EXPECT_EQ(j.at("sent"), 1000);
    EXPECT_EQ(j.at("dropped"), 2);
    EXPECT_EQ(j.at("errors").at("timeout"), 1);
    EXPECT_EQ(j.at("errors").at("connect"), 0); // every kind listed
    EXPECT_EQ(j.at("latency_us").at("max"), 100 + 999 * 3);
    EXPECT_EQ(j.at("latency_us").at("p50"), r.latency.percentile(50));
    EXPECT_EQ(j.at("histogram").at("count"), 1000);
    EXPECT_EQ(j.at("behind"), false);
    EXPECT_TRUE(j.at("behind_reason").is_null());
    // And back.
    run_result back;
    std::string error;
    ASSERT_TRUE(from_json(nlohmann::json::parse(j.dump()), back, error)) << error;
    EXPECT_EQ(to_json(back), j);
}

TEST(run_result, json_that_cvp_load_did_not_write_is_refused_with_a_reason)
{
    run_result back;
    std::string error;
    EXPECT_FALSE(from_json(nlohmann::json{{"tool", "wrk"}}, back, error));
    EXPECT_FALSE(error.empty());
    auto j = to_json(sample_run(10, 5, 1, 10));
    j.erase("histogram");
    EXPECT_FALSE(from_json(j, back, error));
}

TEST(run_result, merged_runs_add_up_and_their_percentiles_come_from_the_merged_histogram)
{
    auto const a = sample_run(1000, 100, 1, 250);
    auto b = sample_run(3000, 5000, 2, 250);
    b.behind = true;
    b.behind_reason = "slow";
    auto const m = merge({a, b});
    EXPECT_EQ(m.generators, 2U);
    EXPECT_DOUBLE_EQ(m.rate_asked, 500);
    EXPECT_EQ(m.sent, 4000U);
    EXPECT_EQ(m.completed, 4000U);
    EXPECT_EQ(m.dropped, 4U);
    EXPECT_EQ(m.errors.at("timeout"), 2U);
    EXPECT_EQ(m.status.at("503"), 2U);
    EXPECT_EQ(m.urls.at(0).sent, 4000U);
    EXPECT_EQ(m.connections_opened, 8U);
    EXPECT_DOUBLE_EQ(m.cpu_s, 1.0);
    EXPECT_TRUE(m.behind);
    EXPECT_EQ(m.behind_reason, "slow");
    // The merged histogram is the histogram of all 4,000 values.
    cvp::latency_histogram all;
    for (std::uint64_t i = 0; i < 1000; ++i)
        all.record(100 + i);
    for (std::uint64_t i = 0; i < 3000; ++i)
        all.record(5000 + 2 * i);
    EXPECT_EQ(m.latency, all);
    // Averaging the two p50s (~600 and ~8000 µs) would say ~4300; three quarters of the
    // requests came from b, so the true median lies in b's range.
    EXPECT_GT(m.latency.percentile(50), 5000U);
}

TEST(run_result, the_summary_names_rates_errors_and_a_generator_that_fell_behind)
{
    auto r = sample_run(100, 1000, 10, 50);
    r.behind = true;
    r.behind_reason = "the generator used 97% of its CPU";
    auto const text = human_summary(r);
    EXPECT_NE(text.find("rate achieved 50.0/s"), std::string::npos) << text;
    EXPECT_NE(text.find("timeout=1"), std::string::npos) << text;
    EXPECT_NE(text.find("BEHIND SCHEDULE: the generator used 97%"), std::string::npos) << text;
}

} // namespace
