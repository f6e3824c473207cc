// Thin RAII over the SQLite C API: a connection handle, prepared statements
// that bind by position and reset themselves, and errors as exceptions that
// carry SQLite's code and message.
#pragma once

#include <sqlite3.h>

#include <concepts>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace homesip::location_sqlite {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  // The extended result code (SQLITE_BUSY, SQLITE_FULL, ...).
  int code() const { return code_; }

 private:
  int code_;
};

// Throws SqliteError for `rc` unless it is SQLITE_OK; `doing` says what failed.
void check(sqlite3* db, int rc, std::string_view doing);

struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseCloser>;

// Opens (creating if needed) a database file for reading and writing.
DatabaseHandle open_database(const std::string& path);

// Runs SQL without results (several statements allowed).
void execute(sqlite3* db, const char* sql);

// One prepared statement, reused for the connection's life.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Resets the statement and binds `values` to parameters 1..N. Text is bound
  // without a copy: it must stay alive until the statement has been stepped
  // (bind(...).run() in one expression, or a loop over next_row()).
  template <class... Values>
  Statement& bind(const Values&... values) {
    reset();
    int index = 0;
    (bind_one(++index, values), ...);
    return *this;
  }

  // Steps once: true with a row to read, false when done (and then reset, so
  // no read transaction stays open). Throws SqliteError.
  bool next_row();
  // Steps to the end, for statements that return no rows.
  void run();
  void reset();

  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string text(int column) const;
  // The column's text in SQLite's own buffer: valid until the next step or reset.
  std::string_view text_view(int column) const;

 private:
  template <std::integral Integer>
  void bind_one(int index, Integer value) {
    bind_integer(index, static_cast<int64_t>(value));
  }
  void bind_one(int index, std::string_view value);
  void bind_integer(int index, int64_t value);

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace homesip::location_sqlite
