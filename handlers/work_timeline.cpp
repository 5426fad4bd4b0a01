#include "handlers/work_timeline.hpp"

namespace cvp {

work_timeline::work_timeline(std::size_t events_per_worker)
    : events_per_worker_(events_per_worker)
{}

work_timeline::~work_timeline() = default;

timeline_ring* work_timeline::ring_of(int worker)
{
    if (worker < 0 || static_cast<std::size_t>(worker) >= max_workers)
        return nullptr;
    auto const index = static_cast<std::size_t>(worker);
    auto& slot = blocks_[index / rings_per_block];

    // Made already: the acquire load sees the rings the maker built.
    auto* b = slot.load(std::memory_order_acquire);
    if (b == nullptr) {
        // Made by whoever takes the lock first; the others find it made.
        std::lock_guard lock{grow_mutex_};
        b = slot.load(std::memory_order_relaxed);
        if (b == nullptr) {
            auto fresh = std::make_unique<block>();
            for (std::size_t i = 0; i < rings_per_block; ++i)
                fresh->emplace_back(events_per_worker_);
            b = fresh.get();
            owned_.push_back(std::move(fresh));
            slot.store(b, std::memory_order_release);
        }
    }
    return &(*b)[index % rings_per_block];
}

void work_timeline::record(timeline_event const& e)
{
    auto* ring = ring_of(e.worker);
    if (ring == nullptr) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    ring->push(e);
}

std::vector<work_timeline::worker_events> work_timeline::since(std::int64_t since_ns) const
{
    std::vector<worker_events> out;
    // Blocks in worker order; a block not made yet holds no events.
    for (std::size_t b = 0; b < max_blocks; ++b) {
        auto const* rings = blocks_[b].load(std::memory_order_acquire);
        if (rings == nullptr)
            continue;
        for (std::size_t i = 0; i < rings->size(); ++i) {
            auto contents = (*rings)[i].since(since_ns);
            if (contents.recorded == 0)
                continue;
            out.push_back(worker_events{static_cast<int>(b * rings_per_block + i), std::move(contents)});
        }
    }
    return out;
}

} // namespace cvp
