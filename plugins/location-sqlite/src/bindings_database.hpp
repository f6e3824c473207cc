// The SQLite file behind the store: opening and configuring it (WAL, busy
// timeout, synchronous mode, schema), the initial load, and the statements the
// writer thread runs. Used by one thread at a time: the constructing thread
// while the store loads, the writer thread afterwards.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/location_store.hpp"
#include "homesip/user_store.hpp"
#include "packed_bindings.hpp"
#include "sqlite_statement.hpp"
#include "store_options.hpp"

namespace homesip::location_sqlite {

// Which file a path names: SQLite keeps writing to a file that was deleted or
// replaced under it, so the writer compares this before each transaction.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const FileIdentity&) const = default;
};

// The file at `path` now; nullopt when stat() fails (errno says why).
std::optional<FileIdentity> identity_of(const std::string& path);

struct StoredBinding {
  std::string aor;
  Binding binding;
};

class BindingsDatabase {
 public:
  // Opens or creates `path`, switches it to WAL, migrates its schema.
  // Throws SqliteError or SchemaError. A file SQLite can only open read-only
  // (permissions, an immutable flag) is opened when its schema is current:
  // its bindings can still be served; read_only() tells.
  BindingsDatabase(const std::string& path, SynchronousMode synchronous,
                   std::chrono::milliseconds busy_timeout);
  ~BindingsDatabase();
  BindingsDatabase(BindingsDatabase&&) noexcept;

  // The file opened (as found at the path right after opening it).
  const FileIdentity& identity() const { return identity_; }
  // SQLite fell back to read-only when opening: no write will ever succeed
  // on this connection, however the file's permissions change.
  bool read_only() const;

  using RowVisitor = std::function<void(std::string_view aor, const BindingView& binding)>;
  using KeyVisitor = std::function<void(std::string_view aor, std::string_view contact)>;
  // Calls `row` for every binding with expires_at > now, ordered by AOR (the
  // table's key order: no sort). The views are valid during the call only:
  // the load copies them once, into the index's records.
  void for_each_unexpired(int64_t now, const RowVisitor& row);
  // The same, and `expired` with the key of every other row, in the same
  // scan (the scan reads every row whatever the WHERE: the table has no
  // expiry index); an expired row's other columns are not read.
  void for_each_row(int64_t now, const RowVisitor& row, const KeyVisitor& expired);
  // The AOR's bindings with expires_at > now, as stored.
  BindingList unexpired_of(std::string_view aor, int64_t now);
  std::vector<StoredBinding> all_unexpired(int64_t now);
  // Makes `bindings` and `users` the whole content, in one transaction.
  void replace_all(const std::vector<StoredBinding>& bindings, const std::vector<UserRecord>& users);

  void begin();  // BEGIN IMMEDIATE: waits up to the busy timeout for the write lock
  void commit();
  void rollback_if_open();  // after a failure; never throws

  void upsert(std::string_view aor, const Binding& binding);
  void remove_contact(std::string_view aor, std::string_view contact);
  void remove_aor(std::string_view aor);
  void remove_contact_if_expired(std::string_view aor, std::string_view contact, int64_t cutoff);

  sqlite3* handle() const { return db_.get(); }

 private:
  void configure(SynchronousMode synchronous, std::chrono::milliseconds busy_timeout);

  DatabaseHandle db_;  // declared first: the statements below are finalized before it closes
  struct Statements;
  std::unique_ptr<Statements> statements_;
  FileIdentity identity_;
};

}  // namespace homesip::location_sqlite
