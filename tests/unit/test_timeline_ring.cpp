/// The rings behind /stats/timeline, without HTTP: what a ring keeps and overwrites, how
/// `since` filters, what a target becomes, and that several threads may record and read
/// at once (the race the TSan build would report).

#include "handlers/timeline_ring.hpp"
#include "handlers/work_timeline.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace cvp {
namespace {

/// An event of `worker` over [start, end].
timeline_event event(int worker, std::int64_t start, std::int64_t end, timeline_kind kind = timeline_kind::cpu)
{
    timeline_event e;
    e.worker = worker;
    e.start_ns = start;
    e.end_ns = end;
    e.kind = kind;
    e.connection = 7;
    e.set_target("/cpu/pbkdf2?iterations=" + std::to_string(start));
    return e;
}

/// The start_ns of each event, in order.
std::vector<std::int64_t> starts(std::vector<timeline_event> const& events)
{
    std::vector<std::int64_t> out;
    for (auto const& e : events)
        out.push_back(e.start_ns);
    return out;
}

TEST(timeline_ring, keeps_events_oldest_first_until_full)
{
    timeline_ring ring{4};
    for (std::int64_t t = 1; t <= 3; ++t)
        ring.push(event(0, t * 10, t * 10 + 5));
    auto const c = ring.since(0);
    EXPECT_EQ(starts(c.events), (std::vector<std::int64_t>{10, 20, 30}));
    EXPECT_EQ(c.recorded, 3u);
    EXPECT_EQ(c.overwritten, 0u);
    EXPECT_EQ(c.events[1].target(), "/cpu/pbkdf2?iterations=20");
    EXPECT_EQ(c.events[1].connection, 7u);
}

TEST(timeline_ring, overwrites_the_oldest_past_its_capacity_and_counts_them)
{
    timeline_ring ring{3};
    for (std::int64_t t = 1; t <= 8; ++t)
        ring.push(event(0, t * 10, t * 10 + 5));
    auto const c = ring.since(0);
    // The newest three, still oldest first, across the wrap.
    EXPECT_EQ(starts(c.events), (std::vector<std::int64_t>{60, 70, 80}));
    EXPECT_EQ(c.recorded, 8u);
    EXPECT_EQ(c.overwritten, 5u);
}

TEST(timeline_ring, since_keeps_the_events_that_ended_at_or_after_it)
{
    timeline_ring ring{8};
    ring.push(event(0, 10, 20));
    ring.push(event(0, 15, 30));
    ring.push(event(0, 40, 50));
    // An event that began before `since` but ended after it is still in the window.
    EXPECT_EQ(starts(ring.since(25).events), (std::vector<std::int64_t>{15, 40}));
    EXPECT_EQ(starts(ring.since(30).events), (std::vector<std::int64_t>{15, 40}));
    EXPECT_EQ(starts(ring.since(31).events), (std::vector<std::int64_t>{40}));
    EXPECT_TRUE(ring.since(51).events.empty());
    // The counts are the ring's, whatever the filter.
    EXPECT_EQ(ring.since(51).recorded, 3u);
}

TEST(timeline_ring, a_ring_of_no_capacity_keeps_nothing_and_counts_everything_overwritten)
{
    timeline_ring ring{0};
    ring.push(event(0, 1, 2));
    ring.push(event(0, 3, 4));
    auto const c = ring.since(0);
    EXPECT_TRUE(c.events.empty());
    EXPECT_EQ(c.recorded, 2u);
    EXPECT_EQ(c.overwritten, 2u);
}

TEST(timeline_ring, targets_are_cut_to_their_capacity_and_kept_printable_ascii)
{
    timeline_event e;
    e.set_target(std::string(300, 'a'));
    EXPECT_EQ(e.target(), std::string(timeline_event::target_capacity, 'a'));
    e.set_target("/io/sleep?ms=1&x=\xc3\xa9\t");
    EXPECT_EQ(e.target(), "/io/sleep?ms=1&x=???");
    e.set_target("");
    EXPECT_EQ(e.target(), "");
}

TEST(timeline_ring, kinds_have_the_names_the_api_uses)
{
    EXPECT_EQ(to_string(timeline_kind::cpu), "cpu");
    EXPECT_EQ(to_string(timeline_kind::blocking), "blocking");
    EXPECT_EQ(to_string(timeline_kind::io_wait), "io-wait");
}

TEST(work_timeline, records_each_event_in_its_workers_ring_and_lists_only_rings_that_recorded)
{
    work_timeline timeline{2};
    timeline.record(event(3, 10, 20));
    timeline.record(event(0, 30, 40, timeline_kind::io_wait));
    timeline.record(event(3, 50, 60, timeline_kind::blocking));
    timeline.record(event(3, 70, 80));
    // A worker in a later block of rings.
    timeline.record(event(work_timeline::rings_per_block + 1, 90, 95));

    auto const rows = timeline.since(0);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].worker, 0);
    EXPECT_EQ(rows[0].contents.events.at(0).kind, timeline_kind::io_wait);
    EXPECT_EQ(rows[1].worker, 3);
    EXPECT_EQ(starts(rows[1].contents.events), (std::vector<std::int64_t>{50, 70}));
    EXPECT_EQ(rows[1].contents.overwritten, 1u);
    EXPECT_EQ(rows[2].worker, static_cast<int>(work_timeline::rings_per_block) + 1);
    EXPECT_EQ(timeline.events_per_worker(), 2u);
    EXPECT_EQ(timeline.dropped(), 0u);

    // `since` reaches every ring.
    auto const late = timeline.since(75);
    ASSERT_EQ(late.size(), 3u);
    EXPECT_TRUE(late[0].contents.events.empty());
    EXPECT_EQ(starts(late[1].contents.events), (std::vector<std::int64_t>{70}));
}

TEST(work_timeline, drops_and_counts_events_of_workers_past_its_range)
{
    work_timeline timeline{4};
    timeline.record(event(-1, 1, 2));
    timeline.record(event(static_cast<int>(work_timeline::max_workers), 1, 2));
    EXPECT_EQ(timeline.dropped(), 2u);
    EXPECT_TRUE(timeline.since(0).empty());
}

TEST(work_timeline, threads_record_into_shared_rings_while_another_reads)
{
    // Four writers share two workers' rings (as offload's loop and pool threads, or
    // `pool`'s threads, do) while a reader copies them: nothing is lost from the counts,
    // and each ring keeps exactly its capacity.
    constexpr int writers = 4;
    constexpr int per_writer = 2000;
    work_timeline timeline{64};
    std::atomic<bool> done{false};
    std::thread reader([&] {
        while (!done.load())
            for (auto const& row : timeline.since(0))
                EXPECT_LE(row.contents.events.size(), 64u);
    });
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
        threads.emplace_back([&timeline, w] {
            for (int i = 0; i < per_writer; ++i)
                timeline.record(event(w % 2, i, i + 1));
        });
    for (auto& t : threads)
        t.join();
    done = true;
    reader.join();

    auto const rows = timeline.since(0);
    ASSERT_EQ(rows.size(), 2u);
    for (auto const& row : rows) {
        EXPECT_EQ(row.contents.recorded, static_cast<std::uint64_t>(writers / 2 * per_writer));
        EXPECT_EQ(row.contents.events.size(), 64u);
        EXPECT_EQ(row.contents.overwritten, row.contents.recorded - 64);
    }
}

} // namespace
} // namespace cvp
