// homesip::UserStore in the location store's SQLite file (tables `users` and
// `user_credentials`, schema version 3), so a server needs no directory for
// its users. Authentication asks for a user on every request, so reads never
// touch the disk: every user is in memory (loaded at start with the
// bindings) and find_user / list_users answer at once on the caller's
// thread. A put or remove goes through the location store's writer, in its
// transactions: `done` runs on the caller's loop once it is committed, and
// when the file is deleted or replaced the users are carried into the new
// file and later writes land there, as for the bindings. The file holds HA1
// secrets: it is made owner-only (0600).
#pragma once

#include <atomic>

#include "homesip/user_store.hpp"
#include "sqlite_location_store.hpp"

namespace homesip::location_sqlite {

class SqliteUserStore final : public UserStore {
 public:
  // The users of `file`'s store, which must outlive this.
  explicit SqliteUserStore(SqliteLocationStore& file);
  SqliteUserStore(const SqliteUserStore&) = delete;
  SqliteUserStore& operator=(const SqliteUserStore&) = delete;

  void find_user(std::string_view aor, UserDone done) override;
  void list_users(std::string_view domain, UserListDone done) override;
  void put_user(const UserRecord& user, UserWriteDone done) override;
  void remove_user(std::string_view aor, UserWriteDone done) override;

  // Later puts and removes are answered kUnavailable; reads keep working
  // (from memory). What was submitted before is still written. Idempotent.
  void stop() { stopped_ = true; }

 private:
  void write(std::string key, std::shared_ptr<const UserRecord> user, UserWriteDone done);

  SqliteLocationStore& file_;
  std::atomic<bool> stopped_{false};
};

}  // namespace homesip::location_sqlite
