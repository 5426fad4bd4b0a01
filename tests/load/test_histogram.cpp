/// The log-linear histogram: its error bound, its percentiles, exact merging, and its
/// JSON form read back unchanged.

#include "common/latency_histogram.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <vector>

namespace {

using cvp::latency_histogram;

TEST(histogram, every_value_lands_in_a_bucket_that_holds_it_within_one_part_in_a_thousand)
{
    // Across the whole range, walking in growing steps.
    for (std::uint64_t v = 0; v <= latency_histogram::highest_us; v += 1 + v / 997) {
        auto const b = latency_histogram::bucket_of(v);
        auto const lo = latency_histogram::bucket_lowest(b);
        auto const hi = latency_histogram::bucket_highest(b);
        ASSERT_LE(lo, v);
        ASSERT_GE(hi, v);
        // Three significant digits: a bucket's width is at most a thousandth of its values.
        ASSERT_LE(static_cast<double>(hi - lo), static_cast<double>(lo) / 1000.0) << "value " << v;
    }
}

TEST(histogram, buckets_are_contiguous_and_ordered)
{
    auto const last = latency_histogram::bucket_of(latency_histogram::highest_us);
    for (std::size_t b = 0; b < last; ++b)
        ASSERT_EQ(latency_histogram::bucket_highest(b) + 1, latency_histogram::bucket_lowest(b + 1)) << "bucket " << b;
}

TEST(histogram, values_below_2048_us_are_exact)
{
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 2047; ++v)
        h.record(v);
    EXPECT_EQ(h.percentile(50), 1024U);
    EXPECT_EQ(h.percentile(100), 2047U);
    EXPECT_EQ(h.min_us(), 1U);
    EXPECT_EQ(h.count(), 2047U);
}

TEST(histogram, percentiles_of_a_known_set)
{
    // 1..10000 µs once each: the p-th percentile is p% of 10,000, within a bucket.
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 10'000; ++v)
        h.record(v);
    for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
        auto const expected = static_cast<double>(p * 100);
        auto const got = static_cast<double>(h.percentile(p));
        EXPECT_GE(got, expected) << "p" << p;
        EXPECT_LE(got, expected * 1.001 + 1) << "p" << p;
    }
    EXPECT_EQ(h.percentile(100), 10'000U);
    EXPECT_DOUBLE_EQ(h.mean_us(), 5000.5);
}

TEST(histogram, a_value_past_the_top_is_counted_at_the_top_and_kept_as_the_max)
{
    latency_histogram h;
    h.record(latency_histogram::highest_us * 3);
    EXPECT_EQ(h.count(), 1U);
    EXPECT_EQ(h.max_us(), latency_histogram::highest_us * 3);
    EXPECT_EQ(h.percentile(50), h.max_us());
}

TEST(histogram, two_halves_merged_equal_the_whole)
{
    // Two generators at rate/2 each record what one at the full rate would have.
    std::mt19937_64 random(7);
    std::lognormal_distribution<double> latency(8.0, 1.5);
    latency_histogram whole, a, b;
    for (int i = 0; i < 200'000; ++i) {
        auto const v = static_cast<std::uint64_t>(latency(random));
        whole.record(v);
        (i % 2 == 0 ? a : b).record(v);
    }
    a.merge(b);
    EXPECT_EQ(a, whole);
    EXPECT_EQ(a.percentile(99.9), whole.percentile(99.9));
}

TEST(histogram, merging_an_empty_histogram_changes_nothing_and_into_one_copies)
{
    latency_histogram h, empty;
    h.record(5);
    h.record(50'000);
    auto copy = h;
    copy.merge(empty);
    EXPECT_EQ(copy, h);
    empty.merge(h);
    EXPECT_EQ(empty, h);
}

TEST(histogram, its_json_reads_back_the_same)
{
    latency_histogram h;
    for (std::uint64_t v : {1ULL, 7ULL, 2048ULL, 4095ULL, 123'456ULL, 59'999'999ULL})
        h.record(v);
    latency_histogram back;
    std::string error;
    ASSERT_TRUE(latency_histogram::from_json(h.to_json(), back, error)) << error;
    EXPECT_EQ(back, h);
    // Only the non-empty buckets are written.
    EXPECT_EQ(h.to_json().at("buckets").size(), 6U);
}

TEST(histogram, json_of_another_layout_or_with_a_wrong_count_is_refused)
{
    latency_histogram h;
    h.record(3000);
    std::string error;
    latency_histogram back;

    auto other = h.to_json();
    other["significant_digits"] = 2;
    EXPECT_FALSE(latency_histogram::from_json(other, back, error));
    EXPECT_NE(error.find("layout"), std::string::npos);

    auto off_boundary = h.to_json();
    off_boundary["buckets"][0][0] = 3001; // 3000 starts a bucket 2 wide
    EXPECT_FALSE(latency_histogram::from_json(off_boundary, back, error));

    auto miscounted = h.to_json();
    miscounted["count"] = 2;
    EXPECT_FALSE(latency_histogram::from_json(miscounted, back, error));
    EXPECT_NE(error.find("count"), std::string::npos);
}

} // namespace
