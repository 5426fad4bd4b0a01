#pragma once

/// A latency histogram with a fixed relative error, after HdrHistogram's idea: values
/// below 2,048 µs each have a bucket of their own; above, every power of two is split
/// into 1,024 buckets, so a bucket is never wider than 1/1,024 of its values (three
/// significant digits). It spans 1 µs to 60 s in 17,192 counters, records in O(1), and
/// two histograms merge exactly by adding their counters.

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cvp {

/// The percentile and summary figures the output reports, in microseconds.
struct latency_summary
{
    std::uint64_t count = 0;
    double mean = 0;
    std::uint64_t min = 0;
    std::uint64_t p50 = 0;
    std::uint64_t p90 = 0;
    std::uint64_t p99 = 0;
    std::uint64_t p999 = 0;
    std::uint64_t p9999 = 0;
    std::uint64_t max = 0;
};

/// Counts of recorded microsecond values, by log-linear bucket.
class latency_histogram
{
public:
    /// Values up to this are kept with three significant digits; larger ones are
    /// counted at it (and `max_us` still says how large the largest was).
    static constexpr std::uint64_t highest_us = 60'000'000;
    static constexpr int significant_digits = 3;

    latency_histogram();

    /// Counts one value, in microseconds.
    void record(std::uint64_t us) noexcept;

    /// Adds every count of `other`: the result is the histogram of both runs' values.
    void merge(latency_histogram const& other) noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t sum_us() const noexcept { return sum_; }
    std::uint64_t min_us() const noexcept { return count_ ? min_ : 0; }
    std::uint64_t max_us() const noexcept { return max_; }
    double mean_us() const noexcept;

    /// The smallest recorded value v such that at least `percent` % of the values are
    /// at most v, reported as the highest value of its bucket (never above `max_us`).
    std::uint64_t percentile(double percent) const noexcept;

    /// How many values fell in buckets that lie wholly at or below `us`: Prometheus's
    /// cumulative `le` bucket (exact below 2,048 µs, within a bucket's width above).
    std::uint64_t count_at_most(std::uint64_t us) const noexcept;

    /// count, mean, min, p50 ... p99.99, max.
    latency_summary summary() const noexcept;

    /// The bucket a value falls in, and the lowest and highest values of a bucket.
    static std::size_t bucket_of(std::uint64_t us) noexcept;
    static std::uint64_t bucket_lowest(std::size_t bucket) noexcept;
    static std::uint64_t bucket_highest(std::size_t bucket) noexcept;

    /// The JSON form: the layout, count, sum, min, max and the non-empty buckets as
    /// [lowest value, count] pairs in ascending order.
    nlohmann::json to_json() const;

    /// Reads the JSON form back. Returns false and sets `error` when the layout differs
    /// from this one's or the buckets do not add up to the count.
    static bool from_json(nlohmann::json const& j, latency_histogram& out, std::string& error);

    friend bool operator==(latency_histogram const&, latency_histogram const&) = default;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
};

} // namespace cvp
