/// /state/* in every model, asserted from counts the server reports, never from timing:
/// `split` loses updates only where handlers run in parallel; `mutex`, `atomic` and
/// `sharded` never lose one; `await` loses one for every two requests whose waits
/// overlapped, in `single` too; `ordered` transfers never deadlock, `naive` ones detect
/// deadlocks only where transfers run in parallel; the money total never changes; bad
/// input gets 400 naming the parameter.

#include "tests/integration/harness.hpp"

#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

#include <latch>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cvp::test {
namespace {

using boost::beast::http::verb;

/// Rounds of two requests at once before a test gives up waiting for an overlap.
constexpr int max_rounds = 20;
/// split's rounds in the parallel models, which stop at the first lost update: each
/// request's increments take a fraction of a millisecond, so on a busy machine the two
/// threads may need many tries to run at once.
constexpr int max_split_rounds = 200;
/// split's requests per connection per round.
constexpr int burst_requests = 5;

class state : public ::testing::TestWithParam<std::string>
{
protected:
    server_process server_{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
    /// Two connections, opened first: reactors gives them to two loops.
    http_client a_{server_.port()};
    http_client b_{server_.port()};

    /// Whether the model runs handler work on more than one thread at once.
    bool parallel() { return stats(server_.port())["model"]["parallelism"].get<int>() > 1; }

    /// Sends `ta` on one connection and `tb` on the other at the same moment.
    std::pair<http_reply, http_reply> both_at_once(std::string const& ta, std::string const& tb)
    {
        std::latch go{2};
        http_reply ra;
        std::thread other{[&] {
            go.arrive_and_wait();
            ra = a_.get(ta);
        }};
        go.arrive_and_wait();
        auto rb = b_.get(tb);
        other.join();
        return {std::move(ra), std::move(rb)};
    }

    /// One strategy's reading: {value, increments, lost}.
    nlohmann::json counter(std::string const& strategy)
    {
        http_client c{server_.port()};
        auto r = c.get("/state/counter/value");
        EXPECT_EQ(r.status, 200u) << r.body;
        return r.json()["strategies"][strategy];
    }

    nlohmann::json accounts()
    {
        http_client c{server_.port()};
        auto r = c.get("/state/accounts");
        EXPECT_EQ(r.status, 200u) << r.body;
        return r.json();
    }
};

TEST_P(state, split_loses_updates_only_where_handlers_run_in_parallel)
{
    // Each connection sends a burst of requests per round, so that the two threads' increments
    // span long enough to meet even on a machine whose CPUs other work keeps busy.
    auto const target = "/state/counter?strategy=split&n=100000";
    int overlapped = 0;
    auto const rounds = parallel() ? max_split_rounds : max_rounds;
    for (int round = 0; round < rounds; ++round) {
        std::vector<interval> seen_a;
        std::vector<interval> seen_b;
        {
            std::latch go{2};
            std::thread other{[&] {
                go.arrive_and_wait();
                for (int i = 0; i < burst_requests; ++i)
                    seen_a.push_back(interval_of(a_.get(target).json()));
            }};
            go.arrive_and_wait();
            for (int i = 0; i < burst_requests; ++i)
                seen_b.push_back(interval_of(b_.get(target).json()));
            other.join();
        }
        for (auto const& x : seen_a)
            for (auto const& y : seen_b)
                overlapped += overlap(x, y) ? 1 : 0;
        if (parallel() && counter("split")["lost"].get<std::uint64_t>() > 0)
            break;
    }
    auto const c = counter("split");
    if (parallel()) {
        // Two threads read the same value and both wrote it plus one.
        EXPECT_GT(overlapped, 0) << "the two connections' work never ran at the same time";
        EXPECT_GT(c["lost"].get<std::uint64_t>(), 0u) << c.dump() << "; overlapping pairs: " << overlapped;
    } else {
        // One loop runs one request's increments start to end: nothing can land in between.
        EXPECT_EQ(overlapped, 0);
        EXPECT_EQ(c["lost"], 0) << c.dump();
        EXPECT_EQ(c["value"], c["increments"]);
        EXPECT_EQ(c["increments"].get<std::uint64_t>(), 2u * max_rounds * burst_requests * 100000u);
    }
}

TEST_P(state, mutex_atomic_and_sharded_never_lose_an_update)
{
    for (auto const* strategy : {"mutex", "atomic", "sharded"}) {
        SCOPED_TRACE(strategy);
        auto const target = std::string{"/state/counter?strategy="} + strategy + "&n=20000";
        for (int round = 0; round < 10; ++round) {
            auto [ra, rb] = both_at_once(target, target);
            ASSERT_EQ(ra.status, 200u) << ra.body;
            ASSERT_EQ(rb.status, 200u) << rb.body;
            EXPECT_EQ(ra.json()["strategy"], strategy);
        }
        auto const c = counter(strategy);
        EXPECT_EQ(c["increments"], 2 * 10 * 20000);
        EXPECT_EQ(c["value"], 2 * 10 * 20000);
        EXPECT_EQ(c["lost"], 0);
    }
}

TEST_P(state, await_loses_one_update_for_every_two_requests_whose_waits_overlapped)
{
    auto const target = "/state/counter?strategy=await&ms=20";
    int overlapped = 0;
    for (int round = 0; round < max_rounds && overlapped < 3; ++round) {
        auto [ra, rb] = both_at_once(target, target);
        ASSERT_EQ(ra.status, 200u) << ra.body;
        ASSERT_EQ(rb.status, 200u) << rb.body;
        overlapped += overlap(interval_of(ra.json()), interval_of(rb.json())) ? 1 : 0;
    }
    ASSERT_GT(overlapped, 0) << "two 20-ms waits on two connections never overlapped";
    auto const c = counter("await");
    auto const lost = c["lost"].get<int>();
    EXPECT_GE(lost, 1) << c.dump();
    if (GetParam() == "single") {
        // One thread: a read and the interval's start, a write and its end, happen with nothing between them.
        EXPECT_EQ(lost, overlapped) << c.dump();
    } else {
        EXPECT_LE(lost, overlapped) << c.dump();
    }
}

TEST_P(state, ordered_transfers_never_deadlock_and_keep_the_total)
{
    for (int round = 0; round < 10; ++round) {
        auto [ra, rb] = both_at_once("/state/transfer?order=ordered&from=0&to=1&amount=3&hold_us=2000",
                                     "/state/transfer?order=ordered&from=1&to=0&hold_us=2000");
        ASSERT_EQ(ra.status, 200u) << ra.body;
        ASSERT_EQ(rb.status, 200u) << rb.body;
        EXPECT_TRUE(ra.json()["moved"].get<bool>());
    }
    auto const a = accounts();
    EXPECT_EQ(a["deadlocks_detected"], 0);
    EXPECT_EQ(a["transfers"]["ordered"], 20);
    EXPECT_EQ(a["total"], a["expected_total"]);
    EXPECT_EQ(a["accounts"][0], 1'000'000 - 10 * 3 + 10);
    EXPECT_EQ(a["accounts"][1], 1'000'000 + 10 * 3 - 10);
}

TEST_P(state, naive_transfers_deadlock_only_where_they_run_in_parallel_and_back_out_with_409)
{
    auto const ab = "/state/transfer?order=naive&from=2&to=3&hold_us=5000&timeout_ms=50";
    auto const ba = "/state/transfer?order=naive&from=3&to=2&hold_us=5000&timeout_ms=50";
    int conflicts = 0;
    int moved = 0;
    for (int round = 0; round < max_rounds; ++round) {
        auto [ra, rb] = both_at_once(ab, ba);
        for (auto const* r : {&ra, &rb}) {
            ASSERT_TRUE(r->status == 200u || r->status == 409u) << r->body;
            if (r->status == 409u) {
                ++conflicts;
                EXPECT_NE(r->json()["error"].get<std::string>().find("deadlock detected"), std::string::npos) << r->body;
                EXPECT_FALSE(r->json()["moved"].get<bool>());
            } else {
                ++moved;
            }
        }
        if (parallel() && conflicts > 0)
            break;
    }
    auto const a = accounts();
    EXPECT_EQ(a["deadlocks_detected"], conflicts);
    EXPECT_EQ(a["transfers"]["naive"], moved);
    EXPECT_EQ(a["total"], a["expected_total"]) << "money appeared or vanished";
    if (parallel())
        EXPECT_GT(conflicts, 0) << "opposite transfers holding their first lock for 5 ms never met";
    else
        EXPECT_EQ(conflicts, 0) << "one loop runs one transfer at a time: nothing can hold the other lock";
}

TEST_P(state, reset_takes_post_alone_and_zeroes_everything)
{
    ASSERT_EQ(a_.get("/state/counter?strategy=atomic&n=5").status, 200u);
    ASSERT_EQ(a_.get("/state/transfer?order=ordered&from=4&to=5&amount=7").status, 200u);

    // GET must not change state: 405, with Allow naming POST.
    auto const refused = a_.get("/state/reset");
    EXPECT_EQ(refused.status, 405u);
    EXPECT_EQ(refused.header("allow"), "POST");
    EXPECT_EQ(counter("atomic")["value"], 5);

    auto const done = a_.request("/state/reset", verb::post);
    ASSERT_EQ(done.status, 200u) << done.body;
    EXPECT_EQ(counter("atomic")["value"], 0);
    EXPECT_EQ(counter("atomic")["increments"], 0);
    auto const acc = accounts();
    EXPECT_EQ(acc["accounts"][4], 1'000'000);
    EXPECT_EQ(acc["transfers"]["ordered"], 0);
}

TEST_P(state, metrics_report_increments_values_and_deadlocks)
{
    ASSERT_EQ(a_.get("/state/counter?strategy=sharded&n=42").status, 200u);
    auto const text = a_.get("/metrics").body;
    EXPECT_NE(text.find("cvp_state_counter_increments_total{strategy=\"sharded\"} 42\n"), std::string::npos) << text;
    EXPECT_NE(text.find("cvp_state_counter_value{strategy=\"sharded\"} 42\n"), std::string::npos);
    EXPECT_NE(text.find("cvp_state_deadlocks_detected_total 0\n"), std::string::npos);
}

TEST_P(state, bad_input_gets_400_naming_the_parameter)
{
    struct bad
    {
        char const* target;
        char const* parameter;
    };
    for (auto const& [target, parameter] : {
             bad{"/state/counter", "strategy"},
             bad{"/state/counter?strategy=plain", "strategy"},
             bad{"/state/counter?strategy=split&n=0", "n"},
             bad{"/state/counter?strategy=split&n=100001", "n"},
             bad{"/state/counter?strategy=mutex&ms=5", "ms"},
             bad{"/state/counter?strategy=await&ms=1001", "ms"},
             bad{"/state/counter?strategy=await&ms=100&n=101", "n"},
             bad{"/state/counter?strategy=atomic&extra=1", "extra"},
             bad{"/state/transfer?order=naive&from=1&to=1", "to"},
             bad{"/state/transfer?order=naive&from=8&to=1", "from"},
             bad{"/state/transfer?order=careful&from=0&to=1", "order"},
             bad{"/state/transfer?from=0&to=1", "order"},
             bad{"/state/transfer?order=ordered&from=0&to=1&timeout_ms=5", "timeout_ms"},
             bad{"/state/transfer?order=naive&from=0&to=1&timeout_ms=0", "timeout_ms"},
             bad{"/state/transfer?order=naive&from=0&to=1&amount=0", "amount"},
             bad{"/state/transfer?order=naive&from=0&to=1&hold_us=100001", "hold_us"},
             bad{"/state/counter/value?x=1", "x"},
         }) {
        SCOPED_TRACE(target);
        auto const r = a_.get(target);
        EXPECT_EQ(r.status, 400u) << r.body;
        EXPECT_EQ(r.json()["parameter"], parameter) << r.body;
    }
    // Nothing was counted, and the server still serves.
    EXPECT_EQ(counter("split")["increments"], 0);
    EXPECT_EQ(accounts()["total"], accounts()["expected_total"]);
    EXPECT_EQ(a_.get("/plaintext").status, 200u);
}

INSTANTIATE_TEST_SUITE_P(all_models, state, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
