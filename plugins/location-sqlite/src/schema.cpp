#include "schema.hpp"

#include <string>

#include "sqlite_statement.hpp"

namespace homesip::location_sqlite {
namespace {

// Version 1: one row per (AOR, contact). WITHOUT ROWID keeps the rows in
// primary-key order, so an AOR's bindings sit together and the key is not
// stored twice. The expiry index served the sweep's range delete.
// Version 2: no expiry index. Every refresh changes expires_at, so the index
// cost each one two more B-tree updates and pages in the commit (a third of
// the writer's work); the sweep deletes by primary key what memory drops, and
// what expired while homesipd was down (the load reads every row anyway).
// Version 3: the embedded user store (UserStore): users keyed by their AOR in
// lower case (find ignores case), listed by domain; credentials per realm and
// algorithm, HA1 only.
constexpr Migration kLocationMigrations[] = {
    {1,
     "CREATE TABLE bindings ("
     "  aor TEXT NOT NULL,"
     "  contact TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  q_millis INTEGER NOT NULL,"
     "  call_id TEXT NOT NULL,"
     "  cseq INTEGER NOT NULL,"
     "  source TEXT NOT NULL,"
     "  instance TEXT NOT NULL,"
     "  user_agent TEXT NOT NULL,"
     "  PRIMARY KEY (aor, contact)"
     ") WITHOUT ROWID;"
     "CREATE INDEX bindings_by_expiry ON bindings (expires_at);"},
    {2, "DROP INDEX bindings_by_expiry;"},
    {3,
     "CREATE TABLE users ("
     "  aor_key TEXT NOT NULL PRIMARY KEY,"
     "  aor TEXT NOT NULL,"
     "  domain_key TEXT NOT NULL,"
     "  domain TEXT NOT NULL,"
     "  role TEXT NOT NULL"
     ") WITHOUT ROWID;"
     "CREATE INDEX users_by_domain ON users (domain_key, aor_key);"
     "CREATE TABLE user_credentials ("
     "  aor_key TEXT NOT NULL,"
     "  realm TEXT NOT NULL,"
     "  algorithm TEXT NOT NULL,"
     "  ha1 TEXT NOT NULL,"
     "  PRIMARY KEY (aor_key, realm, algorithm)"
     ") WITHOUT ROWID;"},
};

bool has_version_table(sqlite3* db) {
  Statement query(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  const bool found = query.bind().next_row();
  query.reset();
  return found;
}

void check_numbering(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i)
    if (migrations[i].version != static_cast<int>(i + 1))
      throw std::logic_error("schema migrations must be numbered 1, 2, ... in order");
}

void record_version(sqlite3* db, int version) {
  execute(db, "DELETE FROM schema_version");
  Statement insert(db, "INSERT INTO schema_version (version) VALUES (?)");
  insert.bind(version).run();
}

void apply_in_transaction(sqlite3* db, std::span<const Migration> migrations, int from) {
  execute(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  for (const Migration& step : migrations) {
    if (step.version <= from) continue;
    try {
      execute(db, step.sql);
    } catch (const SqliteError& e) {
      throw SchemaError("schema migration to version " + std::to_string(step.version) +
                        " failed: " + e.what());
    }
  }
  record_version(db, migrations.back().version);
}

}  // namespace

std::span<const Migration> location_schema_migrations() { return kLocationMigrations; }

int current_location_schema_version() { return location_schema_migrations().back().version; }

int stored_schema_version(sqlite3* db) {
  if (!has_version_table(db)) return 0;
  Statement query(db, "SELECT MAX(version) FROM schema_version");
  const int version = query.bind().next_row() ? static_cast<int>(query.integer(0)) : 0;
  query.reset();
  return version;
}

void migrate_schema(sqlite3* db, std::span<const Migration> migrations) {
  check_numbering(migrations);
  const int target = migrations.empty() ? 0 : migrations.back().version;
  // IMMEDIATE: two processes opening one file at once must not both migrate.
  execute(db, "BEGIN IMMEDIATE");
  try {
    const int stored = stored_schema_version(db);
    if (stored > target)
      throw SchemaError("the database has schema version " + std::to_string(stored) +
                        ", newer than this homesip understands (" + std::to_string(target) +
                        "); use a newer homesip or another file");
    if (stored < target) apply_in_transaction(db, migrations, stored);
    execute(db, "COMMIT");
  } catch (...) {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace homesip::location_sqlite
