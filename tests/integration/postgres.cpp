#include "tests/integration/postgres.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cvp::test {

std::string fixture_conninfo()
{
    char const* dir = std::getenv("CVP_TEST_PG_DIR");
    std::string const how = "the database tests need the PostgreSQL cluster of the ctest fixture: run them through ctest "
                            "(postgres_start starts it), or start one with 'scripts/postgres start --dir DIR' and set "
                            "CVP_TEST_PG_DIR=DIR";
    if (dir == nullptr || *dir == '\0')
        throw std::runtime_error("CVP_TEST_PG_DIR is not set: " + how);
    std::ifstream file{std::filesystem::path{dir} / "conninfo"};
    std::string conninfo;
    if (!std::getline(file, conninfo) || conninfo.empty())
        throw std::runtime_error(std::string{"no conninfo in CVP_TEST_PG_DIR="} + dir + ": " + how);
    return conninfo;
}

std::string with_user(std::string const& conninfo, std::string const& user)
{
    // scripts/postgres writes "key=value" words; every word but user= stays.
    std::istringstream words{conninfo};
    std::string out;
    for (std::string w; words >> w;)
        if (!w.starts_with("user="))
            out += w + " ";
    return out + "user=" + user;
}

// ---------------------------------------------------------------------------------------
// pg_session

pg_session::pg_session(std::string const& conninfo)
    : conn_(PQconnectdb(conninfo.c_str()))
{
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string why = PQerrorMessage(conn_);
        PQfinish(conn_);
        throw std::runtime_error("cannot connect to '" + conninfo + "': " + why);
    }
}

pg_session::~pg_session()
{
    PQfinish(conn_);
}

std::vector<std::vector<std::string>> pg_session::query(std::string const& sql)
{
    PGresult* r = PQexec(conn_, sql.c_str());
    auto const status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        std::string why = PQresultErrorMessage(r);
        PQclear(r);
        throw std::runtime_error("'" + sql + "' failed: " + why);
    }
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < PQntuples(r); ++i) {
        auto& row = rows.emplace_back();
        for (int c = 0; c < PQnfields(r); ++c)
            row.emplace_back(PQgetvalue(r, i, c));
    }
    PQclear(r);
    return rows;
}

std::string pg_session::value(std::string const& sql)
{
    auto rows = query(sql);
    if (rows.empty() || rows[0].empty())
        throw std::runtime_error("'" + sql + "' returned no value");
    return rows[0][0];
}

std::map<int, int> world_rows(pg_session& session)
{
    std::map<int, int> rows;
    for (auto const& row : session.query("SELECT id, randomnumber FROM world"))
        rows[std::stoi(row.at(0))] = std::stoi(row.at(1));
    return rows;
}

// ---------------------------------------------------------------------------------------
// db_tenant

namespace {

/// A role name no other test process uses at the same time.
std::string new_role()
{
    static std::atomic<int> next{0};
    return "cvp_t" + std::to_string(::getpid()) + "_" + std::to_string(next++);
}

} // namespace

db_tenant::db_tenant(std::string const& cluster_conninfo)
    : role_(new_role())
    , conninfo_(with_user(cluster_conninfo, role_))
    , admin_(with_user(cluster_conninfo, "postgres"))
{
    // The role, its schema, and its own copy of world (owned by it, keyed as the original).
    admin_.query("CREATE ROLE " + role_ + " LOGIN; CREATE SCHEMA " + role_ + " AUTHORIZATION " + role_ + "; CREATE TABLE " + role_ +
                 ".world (id integer PRIMARY KEY, randomnumber integer NOT NULL); INSERT INTO " + role_ +
                 ".world SELECT id, randomnumber FROM public.world; ALTER TABLE " + role_ + ".world OWNER TO " + role_ + "; ANALYZE " +
                 role_ + ".world");
    // What the server will read, through the tenant's own eyes.
    pg_session own{conninfo_};
    if (own.value("SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = 'world'::regclass") != role_)
        throw std::runtime_error("the tenant's world does not come first in its search path");
    rows_ = world_rows(own);
}

db_tenant::~db_tenant()
{
    try {
        release_world();
        terminate_sessions();
        admin_.query("DROP SCHEMA " + role_ + " CASCADE; DROP ROLE " + role_);
    } catch (std::exception const&) {
        // A session still closing keeps the role: the throwaway cluster goes with its fixture.
    }
}

std::uint64_t db_tenant::statement_calls()
{
    return std::stoull(admin_.value("SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                                    "WHERE r.rolname = '" +
                                    role_ + "' AND s.query = '" + world_statement + "'"));
}

int db_tenant::sessions(bool waiting_for_lock)
{
    return std::stoi(admin_.value("SELECT count(*) FROM pg_stat_activity WHERE usename = '" + role_ + "'" +
                                  (waiting_for_lock ? " AND wait_event_type = 'Lock'" : "")));
}

int db_tenant::terminate_sessions()
{
    return std::stoi(
        admin_.value("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '" + role_ + "'"));
}

void db_tenant::lock_world()
{
    locker_ = std::make_unique<pg_session>(with_user(conninfo_, "postgres"));
    locker_->query("BEGIN; LOCK TABLE " + role_ + ".world IN ACCESS EXCLUSIVE MODE");
}

void db_tenant::release_world()
{
    if (locker_)
        locker_->query("ROLLBACK");
    locker_.reset();
}

// ---------------------------------------------------------------------------------------
// own_cluster

own_cluster::own_cluster()
{
    // A folder the server's user (postgres, when root runs the tests) can reach.
    char name[] = "/tmp/cvp-dbtest.XXXXXX";
    if (::mkdtemp(name) == nullptr)
        throw std::runtime_error("cannot make a folder under /tmp");
    ::chmod(name, 0755);
    parent_ = name;
    dir_ = parent_ + "/pg";
    conninfo_ = script("start");
    while (!conninfo_.empty() && conninfo_.back() == '\n')
        conninfo_.pop_back();
}

own_cluster::~own_cluster()
{
    script("stop", false);
    std::error_code ec;
    std::filesystem::remove_all(parent_, ec);
}

void own_cluster::halt()
{
    script("halt");
}

void own_cluster::resume()
{
    script("resume");
}

std::string own_cluster::script(std::string const& command, bool check) const
{
    // Its "last started" pointer stays in this folder; its progress goes to the test's stderr.
    std::string const line =
        "CVP_PG_CURRENT='" + parent_ + "/current' '" CVP_SOURCE_DIR "/scripts/postgres' " + command + " --dir '" + dir_ + "'";
    FILE* out = ::popen(line.c_str(), "r");
    if (out == nullptr)
        throw std::runtime_error("cannot run " + line);
    std::string text;
    char buf[512];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, out)) > 0;)
        text.append(buf, n);
    int const status = ::pclose(out);
    if (check && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        throw std::runtime_error(line + " failed (its messages are above)");
    return text;
}

} // namespace cvp::test
