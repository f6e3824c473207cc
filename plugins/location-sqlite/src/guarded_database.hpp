// The writer's connection, and the check that it still writes the file the
// store is configured with. SQLite keeps writing to a file that was deleted
// or replaced under it (the unlinked inode) and never leaves read-only once
// it fell back to it at open; either way commits would be confirmed that no
// restart ever sees, or none would succeed however the file is fixed. So
// before each transaction one stat() compares the file at the path with the
// one open; a mismatch fails that transaction, and recovery then reopens the
// path and, when it names another file, first carries everything the old
// file held (still readable through the open connection) into the new one:
// the bindings and the embedded user store's users. A new file is made
// owner-only before anything is written to it (it holds HA1 values).
// Writer thread only (after the store's constructor hands it over).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings_database.hpp"
#include "store_options.hpp"

namespace homesip::location_sqlite {

class GuardedDatabase {
 public:
  GuardedDatabase(BindingsDatabase database, std::string path, SynchronousMode synchronous,
                  std::chrono::milliseconds busy_timeout);

  // The connection, once it is known to write the file at the path. When it
  // does not, throws saying why; when the previous check had found that, it
  // first tries to recover.
  BindingsDatabase& for_writing();
  // The last check or recovery left no usable file: the writer retries.
  bool broken() const { return !problem_.empty(); }
  // One attempt to make the file at the path writable again, holding what
  // the open file held. Never throws; broken() tells how it went.
  void recover();
  // What the file holds for `aor`: through the open connection, or from the
  // rows being carried to a new file. Throws when neither can say.
  BindingList unexpired_of(std::string_view aor, int64_t now);
  // What the last recovery did, once; empty when there was none since.
  std::string take_recovery_note();

 private:
  std::string diagnose() const;
  bool same_file_at_path() const;
  void carry_rows_out();
  BindingsDatabase open_writable() const;

  const std::string path_;
  const SynchronousMode synchronous_;
  const std::chrono::milliseconds busy_timeout_;
  // Empty only between closing a file that is no longer at the path and
  // opening the one that is; `carried_` then holds what it held.
  std::optional<BindingsDatabase> database_;
  std::optional<std::vector<StoredBinding>> carried_;
  std::vector<UserRecord> carried_users_;  // with `carried_`
  std::string problem_;                    // why the file cannot be written; empty while it can
  std::string recovery_error_;             // why the last recovery failed
  std::string recovery_note_;
};

}  // namespace homesip::location_sqlite
