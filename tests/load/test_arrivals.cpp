/// The schedule and the weighted mix: constant arrivals exactly 1/rate apart, Poisson
/// arrivals with the right mean and spread, and URLs in exact proportions.

#include "loadtest/load/arrivals.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace {

using cvp::load::arrival_kind;
using cvp::load::arrival_schedule;
using cvp::load::weighted_rotation;

TEST(arrivals, constant_arrivals_are_computed_from_their_index_so_rounding_never_accumulates)
{
    // 3 per second: gaps of 333,333,333.3 ns; the millionth is due at exactly 1e6/3 s.
    arrival_schedule s(arrival_kind::constant, 3.0, 1);
    std::int64_t last = 0;
    for (int i = 0; i < 1'000'000; ++i)
        last = s.next();
    EXPECT_EQ(last, std::llround(999'999 * (1e9 / 3.0)));
}

TEST(arrivals, a_constant_rate_puts_exactly_rate_times_duration_in_a_window)
{
    arrival_schedule s(arrival_kind::constant, 1234.5, 1);
    int in_window = 0;
    for (std::int64_t t = s.next(); t < 2'000'000'000; t = s.next())
        ++in_window;
    EXPECT_EQ(in_window, 2469);
}

TEST(arrivals, poisson_gaps_have_mean_one_over_rate_and_the_spread_of_an_exponential)
{
    arrival_schedule s(arrival_kind::poisson, 1000.0, 42);
    constexpr int n = 200'000;
    std::vector<double> gaps;
    std::int64_t prev = s.next();
    EXPECT_EQ(prev, 0);
    for (int i = 0; i < n; ++i) {
        auto const t = s.next();
        ASSERT_GE(t, prev);
        gaps.push_back(static_cast<double>(t - prev));
        prev = t;
    }
    double mean = 0;
    for (auto g : gaps)
        mean += g;
    mean /= n;
    double var = 0;
    for (auto g : gaps)
        var += (g - mean) * (g - mean);
    auto const cv = std::sqrt(var / n) / mean;
    // 1 ms on average; an exponential's standard deviation equals its mean (cv = 1).
    // With 200,000 gaps the standard error of the mean is 0.22%: 1% is far outside it.
    EXPECT_NEAR(mean, 1e6, 1e4);
    EXPECT_NEAR(cv, 1.0, 0.02);
}

TEST(arrivals, the_same_seed_gives_the_same_schedule_and_another_seed_another)
{
    arrival_schedule a(arrival_kind::poisson, 50.0, 9), b(arrival_kind::poisson, 50.0, 9), c(arrival_kind::poisson, 50.0, 10);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        auto const x = a.next();
        EXPECT_EQ(x, b.next());
        differs = differs || x != c.next();
    }
    EXPECT_TRUE(differs);
}

TEST(arrivals, weights_are_honoured_exactly_in_every_round)
{
    weighted_rotation r({5, 1, 2});
    for (int round = 0; round < 10; ++round) {
        std::map<std::size_t, int> picks;
        for (int i = 0; i < 8; ++i)
            ++picks[r.next()];
        EXPECT_EQ(picks[0], 5);
        EXPECT_EQ(picks[1], 1);
        EXPECT_EQ(picks[2], 2);
    }
}

TEST(arrivals, a_rare_url_is_spread_evenly_not_bunched)
{
    // 99 to 1: the rare one comes once in every 100 picks, exactly 100 apart.
    weighted_rotation r({99, 1});
    std::vector<int> at;
    for (int i = 0; i < 1000; ++i)
        if (r.next() == 1)
            at.push_back(i);
    ASSERT_EQ(at.size(), 10U);
    for (std::size_t i = 1; i < at.size(); ++i)
        EXPECT_EQ(at[i] - at[i - 1], 100);
}

} // namespace
