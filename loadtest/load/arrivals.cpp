#include "loadtest/load/arrivals.hpp"

#include <cmath>
#include <utility>

namespace cvp::load {

arrival_schedule::arrival_schedule(arrival_kind kind, double rate, std::uint64_t seed)
    : kind_(kind)
    , gap_ns_(1e9 / rate)
    , random_(seed)
    , gaps_(1.0)
{}

std::int64_t arrival_schedule::next() noexcept
{
    // Constant: the n-th request at n gaps, from its index.
    if (kind_ == arrival_kind::constant)
        return std::llround(static_cast<double>(index_++) * gap_ns_);
    // Poisson: the first at 0, then exponential gaps of mean 1/rate.
    auto const at = poisson_at_ns_;
    poisson_at_ns_ += gaps_(random_) * gap_ns_;
    ++index_;
    return std::llround(at);
}

weighted_rotation::weighted_rotation(std::vector<std::uint64_t> weights)
    : weights_(std::move(weights))
    , current_(weights_.size(), 0)
{
    for (auto w : weights_)
        total_ += static_cast<std::int64_t>(w);
}

std::size_t weighted_rotation::next() noexcept
{
    // Every URL gains its weight; the one ahead is picked and pays the round's total.
    std::size_t best = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        current_[i] += static_cast<std::int64_t>(weights_[i]);
        if (current_[i] > current_[best])
            best = i;
    }
    current_[best] -= total_;
    return best;
}

} // namespace cvp::load
