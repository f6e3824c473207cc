#include "sqlite_user_store.hpp"

#include <filesystem>
#include <optional>

namespace homesip::location_sqlite {

SqliteUserStore::SqliteUserStore(SqliteLocationStore& file) : file_(file) {
  // HA1 values are password equivalents: nobody but the server's user reads them.
  namespace fs = std::filesystem;
  std::error_code ignored;
  fs::permissions(file_.path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace,
                  ignored);
}

void SqliteUserStore::find_user(std::string_view aor, UserDone done) {
  done(StoreStatus::kOk, file_.users().find(user_key(aor)));
}

void SqliteUserStore::list_users(std::string_view domain, UserListDone done) {
  done(StoreStatus::kOk, file_.users().in_domain(user_key(domain)));
}

void SqliteUserStore::put_user(const UserRecord& user, UserWriteDone done) {
  write(user_key(user.aor), std::make_shared<const UserRecord>(user), std::move(done));
}

void SqliteUserStore::remove_user(std::string_view aor, UserWriteDone done) {
  write(user_key(aor), nullptr, std::move(done));
}

void SqliteUserStore::write(std::string key, std::shared_ptr<const UserRecord> user, UserWriteDone done) {
  if (stopped_) {
    done(StoreStatus::kUnavailable);  // on the caller's thread, hence its loop
    return;
  }
  file_.write_user(std::move(key), std::move(user), std::move(done));
}

}  // namespace homesip::location_sqlite
