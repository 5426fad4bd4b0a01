#pragma once

/// What the database tests share: the cluster of the ctest fixture (postgres_start, made by
/// scripts/postgres), a libpq session to it, a tenant of their own on it, and clusters a test
/// starts, halts and resumes itself (again only through scripts/postgres).
///
/// A tenant is a role with a schema of its name holding its own copy of `world`: the
/// server's unqualified `world` resolves there ("$user" comes first in the search path), so
/// a test may lock its table, terminate its sessions and count its statements
/// (pg_stat_statements keys them by role) without disturbing tests running beside it.

#include <libpq-fe.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cvp::test {

/// The statement the server prepares, as pg_stat_statements records it.
inline constexpr char const* world_statement = "SELECT id, randomnumber FROM world WHERE id = $1";

/// The fixture's cluster: the folder in CVP_TEST_PG_DIR and the conninfo scripts/postgres
/// wrote there. Throws, saying how to get one, when there is none.
std::string fixture_conninfo();

/// `conninfo` with its user replaced (the superuser is "postgres"; access is trust).
std::string with_user(std::string const& conninfo, std::string const& user);

/// One libpq session. Every call throws on failure, with the database's message.
class pg_session
{
public:
    explicit pg_session(std::string const& conninfo);
    ~pg_session();
    pg_session(pg_session const&) = delete;
    pg_session& operator=(pg_session const&) = delete;

    /// Runs `sql` (one or more statements); the last one's rows, as text.
    std::vector<std::vector<std::string>> query(std::string const& sql);
    /// The first column of the first row.
    std::string value(std::string const& sql);

private:
    PGconn* conn_ = nullptr;
};

/// Every row of `world` as the session's role sees it: id -> randomnumber.
std::map<int, int> world_rows(pg_session& session);

/// A role, its schema and its own `world` on a cluster; dropped when destroyed.
class db_tenant
{
public:
    explicit db_tenant(std::string const& cluster_conninfo);
    ~db_tenant();
    db_tenant(db_tenant const&) = delete;
    db_tenant& operator=(db_tenant const&) = delete;

    std::string const& role() const noexcept { return role_; }
    /// The conninfo that makes the server read this tenant's `world`.
    std::string const& conninfo() const noexcept { return conninfo_; }
    /// Its `world`: id -> randomnumber.
    std::map<int, int> const& rows() const noexcept { return rows_; }

    /// How often the server's statement ran for this tenant (pg_stat_statements' calls).
    std::uint64_t statement_calls();
    /// Its sessions in pg_stat_activity; only those waiting for a lock with `waiting_for_lock`.
    int sessions(bool waiting_for_lock = false);
    /// Terminates its sessions, as a database restart would; returns how many.
    int terminate_sessions();

    /// Holds ACCESS EXCLUSIVE on its `world` in an open transaction until release() (or
    /// destruction): its queries wait meanwhile.
    void lock_world();
    void release_world();

private:
    std::string role_;
    std::string conninfo_;
    pg_session admin_;
    std::unique_ptr<pg_session> locker_;
    std::map<int, int> rows_;
};

/// A cluster of the test's own, in a new folder under /tmp, through scripts/postgres:
/// started when made, stopped (and its folder removed) when destroyed.
class own_cluster
{
public:
    own_cluster();
    ~own_cluster();
    own_cluster(own_cluster const&) = delete;
    own_cluster& operator=(own_cluster const&) = delete;

    std::string const& conninfo() const noexcept { return conninfo_; }
    /// scripts/postgres halt: the server stops, its folder and port stay.
    void halt();
    /// scripts/postgres resume: the same server again, on the same port.
    void resume();

private:
    /// Runs scripts/postgres `command` on this folder; its stdout. Throws when it fails.
    std::string script(std::string const& command, bool check = true) const;

    std::string parent_;
    std::string dir_;
    std::string conninfo_;
};

} // namespace cvp::test
