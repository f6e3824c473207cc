// The bindings database's schema and how it evolves. A database records its
// schema version in `schema_version`; opening one applies the migrations from
// that version up to the current one, all in one transaction, so a crash or
// error mid-way leaves the file as it was. A file written by a newer homesip
// (a higher version) is refused rather than guessed at.
#pragma once

#include <sqlite3.h>

#include <span>
#include <stdexcept>

namespace homesip::location_sqlite {

// One step: the SQL that takes a database from `version - 1` to `version`.
struct Migration {
  int version;
  const char* sql;
};

// The location store's schema history, oldest first. Append, never edit.
std::span<const Migration> location_schema_migrations();
int current_location_schema_version();

class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The version recorded in the file; 0 for a database without one (new).
int stored_schema_version(sqlite3* db);

// Applies the migrations newer than the stored version, in one transaction,
// and records the last one's version. Throws SchemaError when the stored
// version is newer than the last migration or a step fails (nothing is
// changed then). `migrations` must number 1, 2, ... in order.
void migrate_schema(sqlite3* db, std::span<const Migration> migrations);

}  // namespace homesip::location_sqlite
