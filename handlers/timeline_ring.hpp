#pragma once

/// One worker's recorded work intervals (--timeline): a bounded ring that keeps the
/// newest events and counts the ones it overwrote.

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

namespace cvp {

/// What a recorded interval was.
enum class timeline_kind : std::uint8_t
{
    cpu,      ///< CPU work: a core was busy
    blocking, ///< blocking work: a thread was held without using its core
    io_wait,  ///< a handler's wait on a timer or a downstream: no thread held (but in `threads`)
};

/// "cpu", "blocking" or "io-wait", as /stats/timeline writes it.
std::string_view to_string(timeline_kind k) noexcept;

/// One interval, of a fixed size, so that a ring's memory is its capacity times this.
struct timeline_event
{
    /// Bytes of the request target kept; a longer one is cut.
    static constexpr std::size_t target_capacity = 98;

    /// CLOCK_MONOTONIC, as the work records and the responses report them.
    std::int64_t start_ns = 0;
    std::int64_t end_ns = 0;
    /// The connection the request came on (see counted_connection::id).
    std::uint64_t connection = 0;
    /// The worker the interval belongs to: the thread that ran the work, or for a wait the
    /// thread that served the connection when the wait began.
    std::int32_t worker = 0;
    timeline_kind kind = timeline_kind::cpu;
    /// The request target, cut to target_capacity bytes, printable ASCII only.
    std::uint8_t target_size = 0;
    std::array<char, target_capacity> target_bytes{};

    /// Keeps the first target_capacity bytes of `target`; any byte outside printable
    /// ASCII becomes '?', so that the JSON it is written into stays valid UTF-8.
    void set_target(std::string_view target) noexcept;
    /// The kept target.
    std::string_view target() const noexcept { return {target_bytes.data(), target_size}; }
};
static_assert(sizeof(timeline_event) == 128, "an event is two cache lines: the ring's size is capacity x 128 B");

/// A ring of the newest `capacity` events of one worker. Any thread may push and read.
///
/// Why a mutex and not a seqlock: an event is 128 bytes, so a seqlock's reader would
/// copy it while a writer may be storing it, which is a data race in C++ unless every
/// word is an atomic; its retry loop could also starve a reader behind a busy writer.
/// The mutex exists only while recording is on (the ring is never made otherwise),
/// a push holds it for one copy, and it is contended only while a /stats/timeline
/// request copies the ring: a cost the person who asked for the dump pays for a moment.
/// Pushes also come from more than one thread (offload's loop records what its pool
/// threads ran; in `pool` a wait resumes on any thread), which the mutex makes safe.
class timeline_ring
{
public:
    /// What a read returns: the events kept that ended at or after `since`, oldest first,
    /// and the counts since start.
    struct contents
    {
        std::vector<timeline_event> events;
        /// Every event pushed.
        std::uint64_t recorded = 0;
        /// Events dropped to make room for newer ones: recorded less those kept.
        std::uint64_t overwritten = 0;
    };

    /// A ring that keeps at most `capacity` events; its memory grows with what it holds.
    explicit timeline_ring(std::size_t capacity);
    timeline_ring(timeline_ring const&) = delete;
    timeline_ring& operator=(timeline_ring const&) = delete;

    /// Adds `e`, overwriting the oldest event once full.
    void push(timeline_event const& e);

    /// The events kept whose end_ns is at or after `since_ns`, oldest first.
    contents since(std::int64_t since_ns) const;

    std::size_t capacity() const noexcept { return capacity_; }

private:
    std::size_t const capacity_;
    mutable std::mutex mutex_;
    /// Grows to capacity_, then each push overwrites the oldest.
    std::vector<timeline_event> events_; // guarded by mutex_
    /// Where the oldest event is once the ring is full (0 before).
    std::size_t oldest_ = 0;     // guarded by mutex_
    std::uint64_t recorded_ = 0; // guarded by mutex_
};

} // namespace cvp
