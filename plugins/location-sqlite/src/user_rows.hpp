// The embedded user store's rows (tables `users` and `user_credentials`,
// schema version 3) and the in-memory table that answers for them. The rows
// are written by the location store's writer thread, in its transactions, so
// they follow the file through recovery like the bindings do.
#pragma once

#include <sqlite3.h>

#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/user_store.hpp"

namespace homesip::location_sqlite {

// The key a user is stored and found under: its AOR in lower case.
std::string user_key(std::string_view aor);

// Every user in the file, sorted by key. Throws SqliteError.
std::vector<UserRecord> read_all_users(sqlite3* db);
// Replaces the user's rows with `user`'s, or removes them when `user` is
// null. Inside the caller's transaction. Throws SqliteError.
void write_user_rows(sqlite3* db, const std::string& key, const UserRecord* user);
// Removes every user's rows, inside the caller's transaction.
void delete_all_user_rows(sqlite3* db);

// Every user of the file, in memory: a family or community has few, and
// authentication asks for one on every request, so no read touches the disk.
// Changed only once a change is committed. Safe from any thread.
class UserTable {
 public:
  std::optional<UserRecord> find(std::string_view key) const;
  // Users whose domain (in lower case) is `domain_key`, sorted by key.
  std::vector<UserRecord> in_domain(std::string_view domain_key) const;
  // Stores `user` under `key`, or removes the key when `user` is null.
  void set(const std::string& key, std::shared_ptr<const UserRecord> user);
  void replace_all(const std::vector<UserRecord>& users);
  size_t size() const;

 private:
  struct Entry {
    std::string domain_key;
    std::shared_ptr<const UserRecord> user;
  };
  mutable std::shared_mutex mutex_;
  std::map<std::string, Entry, std::less<>> by_key_;
};

}  // namespace homesip::location_sqlite
