#include "server/pg_link.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace cvp {

namespace {

/// The one statement: a row of `world` by id.
constexpr char const* statement_name = "world";
constexpr char const* statement_sql = "SELECT id, randomnumber FROM world WHERE id = $1";

/// A column of text as an int32 (libpq's text format).
std::int32_t int_at(PGresult const* r, int row, int column)
{
    auto const* text = PQgetvalue(r, row, column);
    std::int32_t value = 0;
    std::from_chars(text, text + std::strlen(text), value);
    return value;
}

/// Decimal text of an id, for a text-format parameter.
struct id_text
{
    explicit id_text(std::int32_t id)
    {
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf - 1, id);
        *end = '\0';
    }
    char buf[16];
};

} // namespace

pg_link::pg_link(std::string const& conninfo)
    : conn_(PQconnectStart(conninfo.c_str()))
{}

pg_link::pg_link(std::string const& conninfo, int connect_timeout_s, long statement_timeout_ms)
{
    // connect_timeout first, the conninfo (expanded from dbname) after: its own settings win.
    auto const timeout = std::to_string(std::max(connect_timeout_s, 2));
    char const* keys[] = {"connect_timeout", "dbname", nullptr};
    char const* values[] = {timeout.c_str(), conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!alive())
        return;
    // A statement slower than the call may take is cancelled by the server itself.
    auto const set = "SET statement_timeout = " + std::to_string(statement_timeout_ms);
    PQclear(PQexec(conn_, set.c_str()));
}

pg_link::~pg_link()
{
    if (conn_ != nullptr)
        PQfinish(conn_);
}

int pg_link::socket() const noexcept
{
    return conn_ != nullptr ? PQsocket(conn_) : -1;
}

bool pg_link::alive() const noexcept
{
    return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

std::string pg_link::error() const
{
    if (conn_ == nullptr)
        return "libpq could not allocate a connection";
    std::string text = PQerrorMessage(conn_);
    // One line: libpq ends its messages with a newline, and some span several.
    for (auto& c : text)
        if (c == '\n')
            c = ' ';
    while (!text.empty() && text.back() == ' ')
        text.pop_back();
    return text;
}

pg_link::want pg_link::connect_step()
{
    if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD)
        return want::failed;
    switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING: return want::read;
    case PGRES_POLLING_WRITING: return want::write;
    case PGRES_POLLING_OK:
        // Queries from here on never block: they queue, and flush() writes them.
        if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1)
            return want::failed;
        return want::done;
    default: return want::failed;
    }
}

bool pg_link::send_worlds(std::span<std::int32_t const> ids)
{
    query_error_.clear();
    commands_left_ = 0;
    // The statement, once per connection.
    if (!prepared_) {
        if (PQsendPrepare(conn_, statement_name, statement_sql, 1, nullptr) != 1)
            return false;
        ++commands_left_;
    }
    // One EXECUTE per id, then one Sync.
    for (auto id : ids) {
        id_text text{id};
        char const* values[] = {text.buf};
        if (PQsendQueryPrepared(conn_, statement_name, 1, values, nullptr, nullptr, 0) != 1)
            return false;
        ++commands_left_;
    }
    return PQpipelineSync(conn_) == 1;
}

pg_link::want pg_link::flush()
{
    switch (PQflush(conn_)) {
    case 0: return want::done;
    case 1: return want::write;
    default: return want::failed;
    }
}

pg_link::want pg_link::read_worlds(std::vector<world_row>& rows)
{
    if (PQconsumeInput(conn_) != 1)
        return want::failed;
    // Take every result that is whole; each command's end with a null, the Sync last.
    while (PQisBusy(conn_) == 0) {
        PGresult* r = PQgetResult(conn_);
        if (r == nullptr)
            continue;
        auto const status = PQresultStatus(r);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return commands_left_ == 0 ? want::done : want::failed;
        }
        if (status == PGRES_COMMAND_OK && !prepared_) {
            prepared_ = true;
        } else if (status == PGRES_TUPLES_OK) {
            // A row, or none for an id past the table (answered as an empty row).
            world_row row;
            if (PQntuples(r) > 0)
                row = world_row{int_at(r, 0, 0), int_at(r, 0, 1)};
            rows.push_back(row);
        } else if (query_error_.empty()) {
            // The first failure says why; the aborted commands after it say nothing new.
            query_error_ = status == PGRES_PIPELINE_ABORTED ? "pipeline aborted" : PQresultErrorMessage(r);
            while (!query_error_.empty() && query_error_.back() == '\n')
                query_error_.pop_back();
        }
        if (commands_left_ > 0)
            --commands_left_;
        PQclear(r);
    }
    return want::read;
}

void pg_link::note_failure(PGresult const* r)
{
    // The database's words, and whether statement_timeout cancelled it (SQLSTATE 57014):
    // the prepare waits for the table's lock as the query does.
    query_error_ = PQresultErrorMessage(r);
    while (!query_error_.empty() && query_error_.back() == '\n')
        query_error_.pop_back();
    auto const* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    timed_out_ = state != nullptr && std::string_view{state} == "57014";
}

bool pg_link::exec_world(std::int32_t id, world_row& row)
{
    query_error_.clear();
    timed_out_ = false;
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK)
        return false;
    // The statement, once per connection.
    if (!prepared_) {
        PGresult* p = PQprepare(conn_, statement_name, statement_sql, 1, nullptr);
        bool const ok = PQresultStatus(p) == PGRES_COMMAND_OK;
        if (!ok)
            note_failure(p);
        PQclear(p);
        if (!ok)
            return false;
        prepared_ = true;
    }
    id_text text{id};
    char const* values[] = {text.buf};
    PGresult* r = PQexecPrepared(conn_, statement_name, 1, values, nullptr, nullptr, 0);
    bool const ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok && PQntuples(r) > 0)
        row = world_row{int_at(r, 0, 0), int_at(r, 0, 1)};
    else if (!ok)
        note_failure(r);
    PQclear(r);
    return ok;
}

} // namespace cvp
