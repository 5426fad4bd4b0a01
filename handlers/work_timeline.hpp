#pragma once

/// The recorded work intervals of every worker (--timeline N): one timeline_ring per
/// worker id, made the first time that worker records, so that a worker that never runs
/// work (or recording that is off: then no work_timeline exists at all) costs nothing.

#include "handlers/timeline_ring.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace cvp {

class work_timeline
{
public:
    /// Rings are made in blocks of this many workers.
    static constexpr std::size_t rings_per_block = 256;
    /// Blocks at most: worker ids from 0 to max_workers - 1 are recorded, later ones dropped.
    static constexpr std::size_t max_blocks = 4096;
    static constexpr std::size_t max_workers = rings_per_block * max_blocks;

    /// One worker's ring as read.
    struct worker_events
    {
        int worker = 0;
        timeline_ring::contents contents;
    };

    /// Each worker's ring keeps its newest `events_per_worker` events.
    explicit work_timeline(std::size_t events_per_worker);
    ~work_timeline();
    work_timeline(work_timeline const&) = delete;
    work_timeline& operator=(work_timeline const&) = delete;

    /// Adds `e` to the ring of `e.worker`; safe from any thread.
    void record(timeline_event const& e);

    /// Every ring that has recorded something, by worker id, with its events that ended at
    /// or after `since_ns`.
    std::vector<worker_events> since(std::int64_t since_ns) const;

    std::size_t events_per_worker() const noexcept { return events_per_worker_; }
    /// Events of workers past max_workers, which no ring keeps.
    std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

private:
    using block = std::deque<timeline_ring>;

    /// The ring of `worker`, made on first use; null past max_workers.
    timeline_ring* ring_of(int worker);

    std::size_t const events_per_worker_;
    /// A block, once made, is never moved or freed before the timeline: a recorder finds
    /// its ring with one acquire load, without a lock.
    std::array<std::atomic<block*>, max_blocks> blocks_{};
    /// Taken only to make a block.
    std::mutex grow_mutex_;
    std::vector<std::unique_ptr<block>> owned_; // guarded by grow_mutex_
    std::atomic<std::uint64_t> dropped_{0};
};

} // namespace cvp
