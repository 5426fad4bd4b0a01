/// /db/query, /db/queries and /db/query-blocking in every model, against the PostgreSQL
/// cluster of the ctest fixture (and, for a halt and a resume, a cluster of the test's own):
/// rows checked against the table, statements counted by pg_stat_statements, the pools and
/// their faults as /stats reports them, a database that is down, restarted, slow or locked,
/// and a drain with calls in flight. Every wait is bounded by `patience`; no property rests
/// on how long something took.

#include "tests/integration/harness.hpp"
#include "tests/integration/postgres.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace cvp::test {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------
// what /stats says of the database pools

json const& db_pools(json const& s)
{
    return s.at("database").at("pools");
}

/// The pool named `name`; null when there is none.
json db_pool(json const& s, std::string const& name)
{
    for (auto const& p : db_pools(s))
        if (p.at("name") == name)
            return p;
    return nullptr;
}

/// A figure summed over the non-blocking pools ("loop N" or "shared"), or the blocking one.
std::uint64_t async_sum(json const& s, std::string const& figure)
{
    std::uint64_t sum = 0;
    for (auto const& p : db_pools(s))
        if (p.at("name") != "blocking")
            sum += p.at(figure).get<std::uint64_t>();
    return sum;
}

std::uint64_t blocking(json const& s, std::string const& figure)
{
    return db_pool(s, "blocking").at(figure).get<std::uint64_t>();
}

/// A fault counted in the non-blocking pools, or in the blocking one.
std::uint64_t async_fault(json const& s, std::string const& fault)
{
    std::uint64_t sum = 0;
    for (auto const& p : db_pools(s))
        if (p.at("name") != "blocking")
            sum += p.at("faults").at(fault).get<std::uint64_t>();
    return sum;
}

std::uint64_t blocking_fault(json const& s, std::string const& fault)
{
    return db_pool(s, "blocking").at("faults").at(fault).get<std::uint64_t>();
}

/// Every fault of every pool.
std::uint64_t all_faults(json const& s)
{
    std::uint64_t sum = 0;
    for (auto const& p : db_pools(s))
        for (auto const& [name, count] : p.at("faults").items())
            sum += count.get<std::uint64_t>();
    return sum;
}

/// A row as the server answers it, checked against the table's.
void expect_row(json const& row, std::map<int, int> const& table)
{
    ASSERT_TRUE(row.is_object()) << row.dump();
    EXPECT_EQ(row.size(), 2u) << row.dump();
    auto const id = row.at("id").get<int>();
    ASSERT_TRUE(table.contains(id)) << row.dump();
    EXPECT_EQ(row.at("randomNumber").get<int>(), table.at(id)) << row.dump();
}

/// A reply of one row of `table`.
void expect_one_row(http_reply const& r, std::map<int, int> const& table)
{
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_NE(r.header("server-timing").find("upstream;dur="), std::string::npos) << r.header("server-timing");
    expect_row(r.json(), table);
}

/// A database failure's reply: its status and fault, naming the database.
void expect_failure(http_reply const& r, unsigned status, std::string const& fault)
{
    ASSERT_EQ(r.status, status) << r.body;
    auto const body = r.json();
    EXPECT_EQ(body["fault"], fault) << r.body;
    EXPECT_EQ(body["status"], status);
    EXPECT_EQ(body["downstream"], "postgres");
    EXPECT_FALSE(body["error"].get<std::string>().empty());
    if (status == 503) {
        EXPECT_FALSE(r.header("retry-after").empty());
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, so nobody else takes it meanwhile).
class unused_port
{
public:
    unused_port()
        : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
    {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("cannot bind a port");
        port_ = ntohs(addr.sin_port);
    }
    ~unused_port() { ::close(fd_); }
    unused_port(unused_port const&) = delete;
    unused_port& operator=(unused_port const&) = delete;
    std::uint16_t port() const noexcept { return port_; }

private:
    int fd_;
    std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------
// the tests, in every model

class database : public ::testing::TestWithParam<std::string>
{
protected:
    void SetUp() override
    {
        // No fixture is a failure that says what to do, never a skip.
        try {
            conninfo_ = fixture_conninfo();
        } catch (std::exception const& e) {
            FAIL() << e.what();
        }
    }

    /// The server under test in this model, reading the database at `conninfo`.
    std::unique_ptr<server_process> start(std::string const& conninfo, std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> args{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2", "--db", conninfo};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<server_process>(std::move(args));
    }

    /// Where each loop has its own pool, one loop only, so that every call shares one pool.
    std::vector<std::string> one_pool() const
    {
        if (serving_kind(GetParam()) == "loop")
            return {"--threads", "1"};
        return {};
    }

    std::string conninfo_;
};

TEST_P(database, each_endpoint_answers_rows_of_world)
{
    pg_session session{conninfo_};
    auto const table = world_rows(session);
    ASSERT_EQ(table.size(), 10000u);
    auto server = start(conninfo_);
    http_client client{server->port()};

    // One row, at random: different ids over a few calls.
    std::set<int> ids;
    for (int i = 0; i < 5; ++i) {
        auto r = client.get("/db/query");
        expect_one_row(r, table);
        ids.insert(r.json()["id"].get<int>());
    }
    EXPECT_GT(ids.size(), 1u);

    // N rows in one array, for N at both ends of its range.
    for (int n : {1, 20, 500}) {
        auto r = client.get("/db/queries?n=" + std::to_string(n));
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_EQ(r.header("content-type"), "application/json");
        EXPECT_NE(r.header("server-timing").find("upstream;dur="), std::string::npos);
        auto const rows = r.json();
        ASSERT_TRUE(rows.is_array());
        ASSERT_EQ(rows.size(), static_cast<std::size_t>(n));
        for (auto const& row : rows)
            expect_row(row, table);
    }

    // The blocking one: a row, run where the model runs blocking work.
    auto r = client.get("/db/query-blocking");
    expect_one_row(r, table);
    auto const worker = std::stoi(r.header("x-worker"));
    auto s = stats(server->port());
    ASSERT_LT(static_cast<std::size_t>(worker), s["workers"].size());
    EXPECT_EQ(s["workers"][static_cast<std::size_t>(worker)]["kind"], work_kind(GetParam())) << r.header("x-worker");
    EXPECT_NE(r.header("server-timing").find("work;dur="), std::string::npos);
    EXPECT_EQ(all_faults(s), 0u) << s["database"].dump();
}

TEST_P(database, a_bad_count_is_400_with_or_without_a_database)
{
    auto with_db = start(conninfo_);
    server_process without_db{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
    for (auto const* server : {with_db.get(), &without_db}) {
        http_client client{server->port()};
        for (char const* target : {"/db/queries?n=0", "/db/queries?n=501", "/db/queries?n=abc", "/db/queries?n=-1", "/db/queries?n=5&x=1",
                                   "/db/query?n=1", "/db/query-blocking?x=1"}) {
            auto r = client.get(target);
            EXPECT_EQ(r.status, 400u) << target << ": " << r.body;
        }
    }
    // Refused before any database call.
    auto s = stats(with_db->port());
    EXPECT_EQ(async_sum(s, "created"), 0u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "created"), 0u) << s["database"].dump();
}

TEST_P(database, without_db_every_endpoint_is_503_naming_the_flag)
{
    server_process server{{"--mode", GetParam(), "--threads", "2", "--pool-threads", "2"}};
    http_client client{server.port()};
    for (char const* target : {"/db/query", "/db/queries?n=3", "/db/query-blocking"}) {
        auto r = client.get(target);
        ASSERT_EQ(r.status, 503u) << target << ": " << r.body;
        EXPECT_NE(r.json()["error"].get<std::string>().find("--db"), std::string::npos) << r.body;
    }
    EXPECT_TRUE(stats(server.port())["database"].is_null());
}

TEST_P(database, each_row_asked_is_one_statement_executed)
{
    // A tenant of its own: pg_stat_statements counts its statements apart from other tests'.
    db_tenant tenant{conninfo_};
    auto server = start(tenant.conninfo());
    auto const before = tenant.statement_calls();

    constexpr std::uint64_t calls = 4;
    constexpr std::uint64_t per_pipeline = 7;
    http_client client{server->port()};
    for (std::uint64_t i = 0; i < calls; ++i) {
        expect_one_row(client.get("/db/query"), tenant.rows());
        auto many = client.get("/db/queries?n=" + std::to_string(per_pipeline));
        ASSERT_EQ(many.status, 200u) << many.body;
        for (auto const& row : many.json())
            expect_row(row, tenant.rows());
        expect_one_row(client.get("/db/query-blocking"), tenant.rows());
    }

    // One execution per row asked: no statement more, none less.
    std::uint64_t const expected = calls + calls * per_pipeline + calls;
    EXPECT_TRUE(eventually([&] { return tenant.statement_calls() - before >= expected; }));
    EXPECT_EQ(tenant.statement_calls() - before, expected);
    // On one connection of each pool, prepared once each.
    auto s = stats(server->port());
    EXPECT_EQ(async_sum(s, "created"), 1u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "created"), 1u) << s["database"].dump();
}

TEST_P(database, pools_are_named_as_the_model_serves_and_a_second_call_reuses_the_connection)
{
    auto server = start(conninfo_, {"--db-connections", "3", "--db-queue", "5"});
    auto s = stats(server->port());
    std::vector<std::string> names;
    for (auto const& p : db_pools(s)) {
        names.push_back(p["name"]);
        EXPECT_EQ(p["capacity"], 3) << p.dump();
        EXPECT_EQ(p["queue_capacity"], 5) << p.dump();
        EXPECT_EQ(p["open"], 0) << p.dump();
        EXPECT_EQ(p["faults"].value("query_failed", -1), 0) << p.dump();
    }
    // "loop N" for each loop where loops have pools, else one "shared"; and "blocking".
    std::vector<std::string> expected;
    if (serving_kind(GetParam()) == "loop") {
        for (std::size_t w = 0; w < s["workers"].size(); ++w)
            if (s["workers"][w]["kind"] == "loop")
                expected.push_back("loop " + std::to_string(w));
    } else {
        expected.push_back("shared");
    }
    expected.push_back("blocking");
    EXPECT_EQ(std::multiset<std::string>(names.begin(), names.end()), std::multiset<std::string>(expected.begin(), expected.end()));

    // Two calls of each kind on one client connection: each second call takes the idle connection.
    http_client client{server->port()};
    auto first = client.get("/db/query");
    ASSERT_EQ(first.status, 200u) << first.body;
    ASSERT_EQ(client.get("/db/queries?n=3").status, 200u);
    ASSERT_EQ(client.get("/db/query-blocking").status, 200u);
    ASSERT_EQ(client.get("/db/query-blocking").status, 200u);
    s = stats(server->port());
    EXPECT_EQ(async_sum(s, "created"), 1u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "reused"), 1u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "idle"), 1u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "in_use"), 0u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "created"), 1u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "reused"), 1u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "idle"), 1u) << s["database"].dump();
    EXPECT_EQ(all_faults(s), 0u) << s["database"].dump();
    // Where each loop has a pool, the one of the loop that served the calls.
    if (serving_kind(GetParam()) == "loop") {
        std::string const name = "loop " + first.header("x-worker");
        for (auto const& p : db_pools(s)) {
            if (p["name"] != "blocking") {
                EXPECT_EQ(p["created"], p["name"] == name ? 1 : 0) << p.dump();
            }
        }
    }
    // /metrics has them too.
    EXPECT_NE(client.get("/metrics").body.find("blocking"), std::string::npos);
}

TEST_P(database, a_database_where_nothing_listens_is_503_connect_failed)
{
    unused_port nobody;
    auto server = start("host=127.0.0.1 port=" + std::to_string(nobody.port()) + " dbname=cvp user=cvp", one_pool());
    http_client client{server->port()};
    expect_failure(client.get("/db/query"), 503, "connect_failed");
    expect_failure(client.get("/db/queries?n=2"), 503, "connect_failed");
    expect_failure(client.get("/db/query-blocking"), 503, "connect_failed");

    // Still serving, on this connection and a new one; each failure counted once, nothing kept.
    EXPECT_EQ(client.get("/plaintext").body, "Hello, World!");
    EXPECT_EQ(http_client{server->port()}.get("/plaintext").status, 200u);
    auto s = stats(server->port());
    EXPECT_EQ(async_fault(s, "connect_failed"), 2u) << s["database"].dump();
    EXPECT_EQ(blocking_fault(s, "connect_failed"), 1u) << s["database"].dump();
    EXPECT_EQ(all_faults(s), 3u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "open"), 0u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "open"), 0u) << s["database"].dump();
}

TEST_P(database, sessions_the_database_terminated_are_replaced_by_one_retry)
{
    db_tenant tenant{conninfo_};
    auto server = start(tenant.conninfo(), one_pool());
    http_client client{server->port()};
    expect_one_row(client.get("/db/query"), tenant.rows());
    expect_one_row(client.get("/db/query-blocking"), tenant.rows());
    ASSERT_EQ(tenant.sessions(), 2);

    // As a restart of the database would: every idle session of the server ends.
    EXPECT_EQ(tenant.terminate_sessions(), 2);
    ASSERT_TRUE(eventually([&] { return tenant.sessions() == 0; }));

    // The next calls find their idle connection dead and go once more, on a new one.
    expect_one_row(client.get("/db/query"), tenant.rows());
    expect_one_row(client.get("/db/query-blocking"), tenant.rows());
    auto s = stats(server->port());
    EXPECT_EQ(async_sum(s, "retried"), 1u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "created"), 2u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "open"), 1u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "retried"), 1u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "created"), 2u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "open"), 1u) << s["database"].dump();
    EXPECT_EQ(all_faults(s), 0u) << s["database"].dump();
    EXPECT_EQ(tenant.sessions(), 2);
}

TEST_P(database, a_query_that_waits_past_db_timeout_is_504)
{
    // The tenant's table locked by another transaction: its reads wait for the lock.
    db_tenant tenant{conninfo_};
    auto server = start(tenant.conninfo(), {"--db-timeout", "300ms"});
    http_client client{server->port()};
    tenant.lock_world();
    expect_failure(client.get("/db/query"), 504, "timeout");
    expect_failure(client.get("/db/queries?n=3"), 504, "timeout");
    expect_failure(client.get("/db/query-blocking"), 504, "timeout");
    EXPECT_EQ(client.get("/plaintext").status, 200u);

    // Released: answered again, and nothing of the timed-out calls was kept.
    tenant.release_world();
    expect_one_row(client.get("/db/query"), tenant.rows());
    expect_one_row(client.get("/db/query-blocking"), tenant.rows());
    auto s = stats(server->port());
    EXPECT_EQ(async_fault(s, "timeout"), 2u) << s["database"].dump();
    EXPECT_EQ(blocking_fault(s, "timeout"), 1u) << s["database"].dump();
    EXPECT_EQ(all_faults(s), 3u) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "in_use"), 0u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "in_use"), 0u) << s["database"].dump();
}

TEST_P(database, two_calls_wait_on_the_database_at_the_same_time)
{
    // Both reads wait for the lock at once, and /stats answers meanwhile: no thread waits.
    db_tenant tenant{conninfo_};
    auto server = start(tenant.conninfo(), {"--db-timeout", "60s"});
    tenant.lock_world();
    http_client a{server->port()};
    http_client b{server->port()};
    a.send("/db/query");
    b.send("/db/query");
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return async_sum(s, "in_use") == 2; }));
    ASSERT_TRUE(eventually([&] { return tenant.sessions(true) == 2; }));

    tenant.release_world();
    expect_one_row(a.read_reply(), tenant.rows());
    expect_one_row(b.read_reply(), tenant.rows());
    auto s = stats(server->port());
    EXPECT_EQ(async_sum(s, "created"), 2u) << s["database"].dump();
    EXPECT_EQ(all_faults(s), 0u) << s["database"].dump();
}

TEST_P(database, blocking_reads_wait_where_the_model_runs_blocking_work)
{
    // Loops run blocking work themselves: one loop, stalled by the first read. The other
    // models have a thread for each read (two pool threads, or a thread per connection).
    bool const stalls = work_kind(GetParam()) == "loop";
    db_tenant tenant{conninfo_};
    std::vector<std::string> extra{"--db-timeout", "60s"};
    if (stalls)
        extra.insert(extra.end(), {"--threads", "1"});
    if (GetParam() == "pool")
        extra.insert(extra.end(), {"--threads", "3"}); // one more to answer /stats
    auto server = start(tenant.conninfo(), extra);

    // The first read holds its thread, waiting for the lock.
    tenant.lock_world();
    http_client a{server->port()};
    a.send("/db/query-blocking");
    ASSERT_TRUE(eventually([&] { return tenant.sessions(true) == 1; }));
    http_client b{server->port()};
    b.send("/db/query-blocking");

    if (stalls) {
        // The loop is held: /stats, sent now, is answered only once both reads are done.
        http_client watcher{server->port()};
        watcher.send("/stats");
        tenant.release_world();
        auto const seen = nlohmann::json::parse(watcher.read_reply().body);
        EXPECT_EQ(blocking(seen, "in_use"), 0u) << "/stats ran while a blocking read was in flight: " << seen["database"].dump();
        expect_one_row(a.read_reply(), tenant.rows());
        expect_one_row(b.read_reply(), tenant.rows());
        // The second read ran only after the first had given its connection back.
        auto s = stats(server->port());
        EXPECT_EQ(blocking(s, "created"), 1u) << s["database"].dump();
        EXPECT_EQ(blocking(s, "reused"), 1u) << s["database"].dump();
    } else {
        // Both wait at once, each on a connection of its own, and /stats answers meanwhile.
        ASSERT_TRUE(eventually([&] { return tenant.sessions(true) == 2; }));
        ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return blocking(s, "in_use") == 2; }));
        tenant.release_world();
        auto ra = a.read_reply();
        auto rb = b.read_reply();
        expect_one_row(ra, tenant.rows());
        expect_one_row(rb, tenant.rows());
        EXPECT_NE(ra.header("x-worker"), rb.header("x-worker"));
        auto s = stats(server->port());
        EXPECT_EQ(blocking(s, "created"), 2u) << s["database"].dump();
    }
    EXPECT_EQ(all_faults(stats(server->port())), 0u);
}

TEST_P(database, a_drain_answers_the_reads_in_flight)
{
    db_tenant tenant{conninfo_};
    auto server = start(tenant.conninfo(), {"--db-timeout", "60s", "--drain-grace", "2s", "--drain-timeout", "15s"});
    tenant.lock_world();
    constexpr std::size_t reads = 3;
    std::vector<std::unique_ptr<http_client>> clients;
    for (std::size_t i = 0; i < reads; ++i) {
        clients.push_back(std::make_unique<http_client>(server->port()));
        clients.back()->send(i == 0 ? "/db/queries?n=5" : "/db/query");
    }
    ASSERT_TRUE(wait_for_stats(server->port(), [](json const& s) { return async_sum(s, "in_use") == reads; }));
    ASSERT_TRUE(eventually([&] { return tenant.sessions(true) == static_cast<int>(reads); }));

    // The drain begins while they wait; the rows come after it began.
    server->signal(SIGTERM);
    ASSERT_TRUE(eventually([&] { return connection_refused(server->port()); }));
    tenant.release_world();
    for (std::size_t i = 0; i < reads; ++i) {
        auto r = clients[i]->read_reply();
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_FALSE(r.keep_alive);
        if (i == 0) {
            ASSERT_EQ(r.json().size(), 5u);
            for (auto const& row : r.json())
                expect_row(row, tenant.rows());
        } else {
            expect_row(r.json(), tenant.rows());
        }
    }
    EXPECT_EQ(server->wait_exit(patience), 0);
    // The server closed its sessions on the way out.
    EXPECT_TRUE(eventually([&] { return tenant.sessions() == 0; }));
}

INSTANTIATE_TEST_SUITE_P(all_models, database, ::testing::ValuesIn(all_modes()));

// ---------------------------------------------------------------------------------------
// a database stopped and started again: a cluster of the test's own

class database_restart : public database
{
protected:
    /// Its own cluster: the fixture's is not needed.
    void SetUp() override {}
};

TEST_P(database_restart, a_halted_database_is_503_and_answers_again_once_resumed)
{
    own_cluster cluster;
    pg_session session{cluster.conninfo()};
    auto const table = world_rows(session);
    auto server = start(cluster.conninfo(), one_pool());
    http_client client{server->port()};
    expect_one_row(client.get("/db/query"), table);
    expect_one_row(client.get("/db/query-blocking"), table);

    // Halted: the idle connections are dead and nothing listens. 503, and still serving.
    cluster.halt();
    for (char const* target : {"/db/query", "/db/query-blocking"}) {
        auto r = client.get(target);
        ASSERT_EQ(r.status, 503u) << target << ": " << r.body;
        auto const fault = r.json()["fault"].get<std::string>();
        EXPECT_TRUE(fault == "connect_failed" || fault == "reset") << r.body;
        EXPECT_FALSE(r.header("retry-after").empty());
    }
    EXPECT_EQ(client.get("/plaintext").status, 200u);
    auto down = stats(server->port());
    EXPECT_EQ(async_sum(down, "open"), 0u) << down["database"].dump();
    EXPECT_EQ(blocking(down, "open"), 0u) << down["database"].dump();
    EXPECT_GE(all_faults(down), 2u) << down["database"].dump();

    // Resumed on the same port: the pools connect again.
    cluster.resume();
    expect_one_row(client.get("/db/query"), table);
    expect_one_row(client.get("/db/query-blocking"), table);
    auto s = stats(server->port());
    EXPECT_EQ(async_sum(s, "created"), async_sum(down, "created") + 1) << s["database"].dump();
    EXPECT_EQ(blocking(s, "created"), blocking(down, "created") + 1) << s["database"].dump();
    EXPECT_EQ(async_sum(s, "open"), 1u) << s["database"].dump();
    EXPECT_EQ(blocking(s, "open"), 1u) << s["database"].dump();
    EXPECT_EQ(all_faults(s), all_faults(down)) << "no fault once resumed: " << s["database"].dump();
}

INSTANTIATE_TEST_SUITE_P(all_models, database_restart, ::testing::ValuesIn(all_modes()));

} // namespace
} // namespace cvp::test
