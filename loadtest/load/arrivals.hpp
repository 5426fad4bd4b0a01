#pragma once

/// When each request is due, and which URL it asks for. Both are deterministic for a
/// given rate, seed and weights, so a run can be repeated and split across generators.

#include <cstdint>
#include <random>
#include <vector>

namespace cvp::load {

/// How arrivals are spaced.
enum class arrival_kind
{
    constant, ///< exactly 1/rate apart
    poisson,  ///< exponentially distributed gaps with mean 1/rate
};

/// The times at which requests are due, in nanoseconds from the schedule's start.
class arrival_schedule
{
public:
    /// `rate` is in requests per second and must be positive.
    arrival_schedule(arrival_kind kind, double rate, std::uint64_t seed);

    /// The due time of the next request. Constant arrivals are computed from their index,
    /// so rounding never accumulates: the n-th is due at n/rate.
    std::int64_t next() noexcept;

private:
    arrival_kind kind_;
    double gap_ns_;
    std::uint64_t index_ = 0;
    double poisson_at_ns_ = 0;
    std::mt19937_64 random_;
    std::exponential_distribution<double> gaps_;
};

/// Picks URLs in proportion to their weights with nginx's smooth weighted round-robin:
/// every round of sum(weights) picks, each URL is picked exactly its weight's times, and
/// the picks of a URL are spread evenly through the round.
class weighted_rotation
{
public:
    /// Weights must be positive; their order is the URLs' order.
    explicit weighted_rotation(std::vector<std::uint64_t> weights);

    /// The index of the next URL.
    std::size_t next() noexcept;

private:
    std::vector<std::uint64_t> weights_;
    std::vector<std::int64_t> current_;
    std::int64_t total_ = 0;
};

} // namespace cvp::load
