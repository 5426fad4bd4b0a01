#include "common/latency_histogram.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>

namespace cvp {

namespace {

/// Values below this have a bucket each: 2^11, twice the buckets per power of two.
constexpr std::uint64_t linear_limit = 2048;
/// Buckets per power of two above the linear range: 2^10, a relative width of 1/1,024.
constexpr std::uint64_t per_octave = 1024;

} // namespace

std::size_t latency_histogram::bucket_of(std::uint64_t us) noexcept
{
    // Below 2,048 µs the value is its own bucket.
    if (us < linear_limit)
        return static_cast<std::size_t>(us);
    // Above, drop the low bits that keep the value's top 11 bits: shift >= 1.
    auto const shift = static_cast<unsigned>(std::bit_width(us) - 11);
    auto const mantissa = us >> shift; // in [1024, 2048)
    return static_cast<std::size_t>(linear_limit + (shift - 1) * per_octave + (mantissa - per_octave));
}

std::uint64_t latency_histogram::bucket_lowest(std::size_t bucket) noexcept
{
    if (bucket < linear_limit)
        return bucket;
    auto const k = bucket - linear_limit;
    auto const shift = k / per_octave + 1;
    auto const mantissa = k % per_octave + per_octave;
    return mantissa << shift;
}

std::uint64_t latency_histogram::bucket_highest(std::size_t bucket) noexcept
{
    if (bucket < linear_limit)
        return bucket;
    auto const shift = (bucket - linear_limit) / per_octave + 1;
    return bucket_lowest(bucket) + (std::uint64_t{1} << shift) - 1;
}

latency_histogram::latency_histogram()
    : counts_(bucket_of(highest_us) + 1, 0)
{}

void latency_histogram::record(std::uint64_t us) noexcept
{
    // Count it (a value past the top in the top bucket), then the exact figures.
    ++counts_[bucket_of(std::min(us, highest_us))];
    min_ = count_ == 0 ? us : std::min(min_, us);
    max_ = std::max(max_, us);
    sum_ += us;
    ++count_;
}

void latency_histogram::merge(latency_histogram const& other) noexcept
{
    if (other.count_ == 0)
        return;
    for (std::size_t i = 0; i < counts_.size(); ++i)
        counts_[i] += other.counts_[i];
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
    count_ += other.count_;
}

double latency_histogram::mean_us() const noexcept
{
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
}

std::uint64_t latency_histogram::percentile(double percent) const noexcept
{
    if (count_ == 0)
        return 0;
    // The rank of the value asked for: at least the first, at most the last.
    auto const wanted = std::clamp(std::ceil(percent / 100.0 * static_cast<double>(count_)), 1.0, static_cast<double>(count_));
    auto const rank = static_cast<std::uint64_t>(wanted);
    // Walk the buckets until that many values are behind us.
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank)
            return std::clamp(bucket_highest(i), min_, max_);
    }
    return max_;
}

std::uint64_t latency_histogram::count_at_most(std::uint64_t us) const noexcept
{
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < counts_.size() && bucket_highest(i) <= us; ++i)
        n += counts_[i];
    return n;
}

latency_summary latency_histogram::summary() const noexcept
{
    return {count_, mean_us(), min_us(), percentile(50), percentile(90), percentile(99), percentile(99.9), percentile(99.99), max_};
}

nlohmann::json latency_histogram::to_json() const
{
    // Only the buckets that hold something, as [lowest value, count].
    auto buckets = nlohmann::json::array();
    for (std::size_t i = 0; i < counts_.size(); ++i)
        if (counts_[i] != 0)
            buckets.push_back({bucket_lowest(i), counts_[i]});
    return {{"unit", "us"},
            {"significant_digits", significant_digits},
            {"lowest_us", 1},
            {"highest_us", highest_us},
            {"count", count_},
            {"sum_us", sum_},
            {"min_us", min_us()},
            {"max_us", max_},
            {"buckets", std::move(buckets)}};
}

bool latency_histogram::from_json(nlohmann::json const& j, latency_histogram& out, std::string& error)
{
    try {
        // The layout must be this one, or the buckets would mean other ranges.
        if (j.at("unit") != "us" || j.at("significant_digits") != significant_digits || j.at("highest_us") != highest_us) {
            error = "a histogram with another layout (unit, significant_digits or highest_us differ)";
            return false;
        }
        latency_histogram h;
        std::uint64_t total = 0;
        for (auto const& pair : j.at("buckets")) {
            auto const value = pair.at(0).get<std::uint64_t>();
            auto const n = pair.at(1).get<std::uint64_t>();
            auto const bucket = bucket_of(std::min(value, highest_us));
            // A value that is not a bucket's lowest was not written by this layout.
            if (bucket_lowest(bucket) != value) {
                error = "bucket " + std::to_string(value) + " is not a bucket boundary of this layout";
                return false;
            }
            h.counts_[bucket] += n;
            total += n;
        }
        h.count_ = j.at("count").get<std::uint64_t>();
        h.sum_ = j.at("sum_us").get<std::uint64_t>();
        h.min_ = j.at("min_us").get<std::uint64_t>();
        h.max_ = j.at("max_us").get<std::uint64_t>();
        // The buckets must hold every value the count says.
        if (total != h.count_) {
            error = "the buckets hold " + std::to_string(total) + " values, the count says " + std::to_string(h.count_);
            return false;
        }
        out = std::move(h);
        return true;
    } catch (nlohmann::json::exception const& e) {
        error = std::string{"not a cvp-load histogram: "} + e.what();
        return false;
    }
}

} // namespace cvp
