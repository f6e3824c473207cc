#include "sqlite_statement.hpp"

namespace homesip::location_sqlite {

void check(sqlite3* db, int rc, std::string_view doing) {
  if (rc == SQLITE_OK) return;
  std::string message(doing);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  throw SqliteError(code, message);
}

DatabaseHandle open_database(const std::string& path) {
  sqlite3* raw = nullptr;
  // NOMUTEX: one thread at a time uses the connection (the constructor, then
  // the writer thread), so SQLite's own locking would only cost time.
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DatabaseHandle db(raw);  // closed even when opening failed, as SQLite asks
  check(db.get(), rc, "opening " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

void execute(sqlite3* db, const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return;
  std::string message = std::string(sql).substr(0, 60) + ": " + (error ? error : sqlite3_errstr(rc));
  sqlite3_free(error);
  throw SqliteError(sqlite3_extended_errcode(db), message);
}

Statement::Statement(sqlite3* db, const char* sql) : db_(db) {
  check(db_, sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr),
        std::string("preparing ") + sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

bool Statement::next_row() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    reset();
    return false;
  }
  sqlite3_reset(stmt_);
  check(db_, rc, sqlite3_sql(stmt_));
  return false;
}

void Statement::run() {
  while (next_row()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);  // its result repeats the last step's error, already reported
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int column) const { return std::string(text_view(column)); }

std::string_view Statement::text_view(int column) const {
  const auto* bytes = sqlite3_column_text(stmt_, column);
  if (!bytes) return {};
  return std::string_view(reinterpret_cast<const char*>(bytes), sqlite3_column_bytes(stmt_, column));
}

void Statement::bind_one(int index, std::string_view value) {
  // SQLITE_STATIC: no copy; the text must outlive the step (see bind()).
  check(db_, sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8),
        "binding a parameter");
}

void Statement::bind_integer(int index, int64_t value) {
  check(db_, sqlite3_bind_int64(stmt_, index, value), "binding a parameter");
}

}  // namespace homesip::location_sqlite
