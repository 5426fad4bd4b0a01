/// connection_pool's bookkeeping, driven with a fake connection and a waiter that only
/// counts its wake() calls: no sockets, no threads.

#include "server/downstream_pool.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

using cvp::downstream_fault;

/// A connection the pool cannot tell from a real one: it only moves it around.
struct fake_conn
{
    int id;
};

using pool = cvp::connection_pool<fake_conn>;
using grant_kind = cvp::pool_grant<fake_conn>::kind;

/// A waiter that counts how often it was woken.
struct counting_waiter final : cvp::pool_waiter<fake_conn>
{
    void wake() override { ++wakes; }
    int wakes = 0;
};

std::shared_ptr<counting_waiter> make_waiter()
{
    return std::make_shared<counting_waiter>();
}

/// An acquire whose waiter is never queued (the caller expects idle, open or full).
cvp::pool_grant<fake_conn> acquire(pool& p)
{
    return p.acquire(make_waiter());
}

std::uint64_t fault_count(cvp::downstream_pool_snapshot const& s, downstream_fault f)
{
    for (auto const& [name, count] : s.faults)
        if (name == cvp::to_string(f))
            return count;
    ADD_FAILURE() << "fault " << cvp::to_string(f) << " not listed";
    return 0;
}

TEST(DownstreamPool, opens_up_to_capacity_then_refuses_without_a_queue)
{
    pool p{"loop 0", 2, 0};
    // Two permits to open, then nothing: the queue has no room.
    EXPECT_EQ(acquire(p).what, grant_kind::open);
    EXPECT_EQ(acquire(p).what, grant_kind::open);
    auto third = acquire(p);
    EXPECT_EQ(third.what, grant_kind::full);
    EXPECT_EQ(third.conn, nullptr);

    auto s = p.snapshot();
    EXPECT_EQ(s.in_use, 2u);
    EXPECT_EQ(s.open, 2u);
    EXPECT_EQ(s.created, 2u);
    EXPECT_EQ(s.waiting, 0u);
    EXPECT_EQ(fault_count(s, downstream_fault::exhausted), 1u);
}

TEST(DownstreamPool, idle_connections_are_reused_last_in_first_out)
{
    pool p{"shared", 3, 0};
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(acquire(p).what, grant_kind::open);
    // Returned in the order 1, 2, 3: taken again as 3, 2, 1.
    for (int id : {1, 2, 3})
        p.release(std::make_unique<fake_conn>(fake_conn{id}));
    EXPECT_EQ(p.snapshot().idle, 3u);
    EXPECT_EQ(p.snapshot().in_use, 0u);
    for (int id : {3, 2, 1}) {
        auto g = acquire(p);
        ASSERT_EQ(g.what, grant_kind::idle);
        ASSERT_NE(g.conn, nullptr);
        EXPECT_EQ(g.conn->id, id);
    }
    auto s = p.snapshot();
    EXPECT_EQ(s.reused, 3u);
    EXPECT_EQ(s.created, 3u);
    EXPECT_EQ(s.idle, 0u);
    EXPECT_EQ(s.in_use, 3u);
}

TEST(DownstreamPool, an_idle_connection_is_taken_before_a_new_one_is_opened)
{
    pool p{"loop 0", 4, 0};
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    p.release(std::make_unique<fake_conn>(fake_conn{9}));
    // Room for three more, yet the idle one comes first.
    auto g = acquire(p);
    ASSERT_EQ(g.what, grant_kind::idle);
    EXPECT_EQ(g.conn->id, 9);
    EXPECT_EQ(p.snapshot().created, 1u);
}

TEST(DownstreamPool, queues_up_to_its_capacity_then_refuses)
{
    pool p{"loop 0", 1, 2};
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    auto w1 = make_waiter();
    auto w2 = make_waiter();
    auto w3 = make_waiter();
    EXPECT_EQ(p.acquire(w1).what, grant_kind::queued);
    EXPECT_EQ(p.acquire(w2).what, grant_kind::queued);
    EXPECT_EQ(p.acquire(w3).what, grant_kind::full);

    auto s = p.snapshot();
    EXPECT_EQ(s.waiting, 2u);
    EXPECT_EQ(s.waited, 2u);
    EXPECT_EQ(fault_count(s, downstream_fault::exhausted), 1u);
    // Nobody was woken by being queued or refused.
    EXPECT_EQ(w1->wakes + w2->wakes + w3->wakes, 0);
}

TEST(DownstreamPool, release_hands_the_connection_to_the_first_waiter_and_wakes_it_once)
{
    pool p{"shared", 1, 2};
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    auto first = make_waiter();
    auto second = make_waiter();
    ASSERT_EQ(p.acquire(first).what, grant_kind::queued);
    ASSERT_EQ(p.acquire(second).what, grant_kind::queued);

    p.release(std::make_unique<fake_conn>(fake_conn{7}));
    ASSERT_NE(first->conn, nullptr);
    EXPECT_EQ(first->conn->id, 7);
    EXPECT_FALSE(first->permit);
    EXPECT_EQ(first->wakes, 1);
    EXPECT_EQ(second->wakes, 0);
    EXPECT_EQ(second->conn, nullptr);

    // Handed over, not idle: still in use, one left waiting.
    auto s = p.snapshot();
    EXPECT_EQ(s.idle, 0u);
    EXPECT_EQ(s.in_use, 1u);
    EXPECT_EQ(s.waiting, 1u);
    // The first was handed one; the second is still in line and leaves it.
    EXPECT_TRUE(p.settle(*first));
    EXPECT_EQ(first->wakes, 1);
    EXPECT_FALSE(p.settle(*second));
    EXPECT_EQ(p.snapshot().waiting, 0u);
}

TEST(DownstreamPool, discard_hands_a_permit_to_the_first_waiter)
{
    pool p{"loop 1", 1, 1};
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    auto w = make_waiter();
    ASSERT_EQ(p.acquire(w).what, grant_kind::queued);

    // The broken connection's place becomes the waiter's permit to open a new one.
    p.discard();
    EXPECT_TRUE(w->permit);
    EXPECT_EQ(w->conn, nullptr);
    EXPECT_EQ(w->wakes, 1);
    EXPECT_TRUE(p.settle(*w));
    auto s = p.snapshot();
    EXPECT_EQ(s.created, 2u);
    EXPECT_EQ(s.in_use, 1u);
    EXPECT_EQ(s.waiting, 0u);

    // With nobody waiting, a discard frees the place.
    p.discard();
    EXPECT_EQ(p.snapshot().in_use, 0u);
    EXPECT_EQ(p.snapshot().open, 0u);
    EXPECT_EQ(acquire(p).what, grant_kind::open);
    EXPECT_EQ(p.snapshot().created, 3u);
}

TEST(DownstreamPool, a_waiter_that_left_the_line_is_not_handed_anything)
{
    pool p{"shared", 1, 1};
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    auto w = make_waiter();
    ASSERT_EQ(p.acquire(w).what, grant_kind::queued);
    // Its wait ended (timed out) before anything came free.
    EXPECT_FALSE(p.settle(*w));

    // The returned connection goes to the idle ones, not to the waiter that left.
    p.release(std::make_unique<fake_conn>(fake_conn{4}));
    EXPECT_EQ(w->wakes, 0);
    EXPECT_EQ(w->conn, nullptr);
    auto s = p.snapshot();
    EXPECT_EQ(s.idle, 1u);
    EXPECT_EQ(s.in_use, 0u);
    EXPECT_EQ(s.waiting, 0u);
    // Its place in line is free again.
    auto next = make_waiter();
    ASSERT_EQ(acquire(p).what, grant_kind::idle);
    EXPECT_EQ(p.acquire(next).what, grant_kind::queued);
}

TEST(DownstreamPool, take_idle_empties_the_idle_connections)
{
    pool p{"loop 0", 3, 0};
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(acquire(p).what, grant_kind::open);
    p.release(std::make_unique<fake_conn>(fake_conn{1}));
    p.release(std::make_unique<fake_conn>(fake_conn{2}));

    auto taken = p.take_idle();
    ASSERT_EQ(taken.size(), 2u);
    EXPECT_EQ(taken[0]->id, 1);
    EXPECT_EQ(taken[1]->id, 2);
    EXPECT_TRUE(p.take_idle().empty());

    // The one in use is still counted; the next call opens a new connection.
    auto s = p.snapshot();
    EXPECT_EQ(s.idle, 0u);
    EXPECT_EQ(s.in_use, 1u);
    EXPECT_EQ(s.open, 1u);
    EXPECT_EQ(acquire(p).what, grant_kind::open);
    EXPECT_EQ(p.snapshot().created, 4u);
}

TEST(DownstreamPool, snapshot_reports_every_figure_and_lists_every_fault)
{
    pool p{"loop 3", 4, 8};
    // Two open, one returned: one idle, one in use.
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    p.release(std::make_unique<fake_conn>(fake_conn{1}));
    p.count(downstream_fault::timeout);
    p.count(downstream_fault::timeout);
    p.count(downstream_fault::reset);
    p.count_retry();

    auto s = p.snapshot();
    EXPECT_EQ(s.name, "loop 3");
    EXPECT_EQ(s.capacity, 4u);
    EXPECT_EQ(s.queue_capacity, 8u);
    EXPECT_EQ(s.idle, 1u);
    EXPECT_EQ(s.in_use, 1u);
    EXPECT_EQ(s.open, s.idle + s.in_use);
    EXPECT_EQ(s.waiting, 0u);
    EXPECT_EQ(s.created, 2u);
    EXPECT_EQ(s.reused, 0u);
    EXPECT_EQ(s.waited, 0u);
    EXPECT_EQ(s.retried, 1u);

    // Every fault listed once, in the documented order, counted or not.
    ASSERT_EQ(s.faults.size(), std::size(cvp::all_downstream_faults));
    for (std::size_t i = 0; i < s.faults.size(); ++i)
        EXPECT_EQ(s.faults[i].first, cvp::to_string(cvp::all_downstream_faults[i]));
    for (auto f : cvp::all_downstream_faults) {
        std::uint64_t const expected = f == downstream_fault::timeout ? 2 : f == downstream_fault::reset ? 1 : 0;
        EXPECT_EQ(fault_count(s, f), expected) << cvp::to_string(f);
    }

    // A queued call shows as waiting.
    ASSERT_EQ(acquire(p).what, grant_kind::idle);
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    ASSERT_EQ(acquire(p).what, grant_kind::open);
    auto w = make_waiter();
    ASSERT_EQ(p.acquire(w).what, grant_kind::queued);
    s = p.snapshot();
    EXPECT_EQ(s.in_use, 4u);
    EXPECT_EQ(s.open, 4u);
    EXPECT_EQ(s.waiting, 1u);
    EXPECT_EQ(s.waited, 1u);
    EXPECT_EQ(s.reused, 1u);
}

} // namespace
