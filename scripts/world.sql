-- The database cvp-server's /db/* endpoints read: role cvp owns database cvp and its table
-- world (10,000 rows of id and randomnumber, TechEmpower's shape); cvp may read every
-- statement's statistics (pg_stat_statements) and reset them. Run as a superuser on the
-- database postgres, with the role's password in the psql variable `password`:
--   psql -X -v ON_ERROR_STOP=1 -v password=SECRET -d postgres -f scripts/world.sql
-- scripts/postgres (throwaway clusters) and the PostgreSQL image (docker/postgres-entrypoint)
-- both run it; the server must preload pg_stat_statements (shared_preload_libraries).
CREATE ROLE cvp LOGIN PASSWORD :'password';
GRANT pg_read_all_stats TO cvp;
CREATE DATABASE cvp OWNER cvp;
\connect cvp
CREATE EXTENSION pg_stat_statements;
GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO cvp;
SET ROLE cvp;
CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL);
INSERT INTO world (id, randomnumber)
  SELECT i, 1 + floor(random() * 10000)::integer FROM generate_series(1, 10000) AS i;
RESET ROLE;
VACUUM ANALYZE world;
SELECT pg_stat_statements_reset();
