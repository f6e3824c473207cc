#include "sqlite_user_store.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include "homesip/binding_list.hpp"

namespace homesip::location_sqlite {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::vector<UserCredential> credentials_of(sqlite3* db, const std::string& aor_key) {
  Statement select(
      db, "SELECT realm, algorithm, ha1 FROM user_credentials WHERE aor_key = ? ORDER BY realm, algorithm");
  select.bind(aor_key);
  std::vector<UserCredential> credentials;
  while (select.next_row())
    credentials.push_back(UserCredential{select.text(0), select.text(1), select.text(2)});
  return credentials;
}

std::optional<UserRecord> read_user(sqlite3* db, const std::string& aor_key) {
  Statement select(db, "SELECT aor, domain, role FROM users WHERE aor_key = ?");
  select.bind(aor_key);
  if (!select.next_row()) return std::nullopt;
  UserRecord user{select.text(0), select.text(1), select.text(2), {}};
  select.reset();
  user.credentials = credentials_of(db, aor_key);
  return user;
}

std::vector<UserRecord> read_domain(sqlite3* db, const std::string& domain_key) {
  Statement select(db, "SELECT aor_key FROM users WHERE domain_key = ? ORDER BY aor_key");
  select.bind(domain_key);
  std::vector<std::string> keys;
  while (select.next_row()) keys.push_back(select.text(0));
  select.reset();
  std::vector<UserRecord> users;
  for (const std::string& key : keys)
    if (auto user = read_user(db, key)) users.push_back(std::move(*user));
  return users;
}

// One transaction: the user's rows replaced (or, with no `user`, removed).
void write_user(sqlite3* db, const std::string& aor_key, const UserRecord* user) {
  execute(db, "BEGIN IMMEDIATE");
  try {
    Statement(db, "DELETE FROM user_credentials WHERE aor_key = ?").bind(aor_key).run();
    Statement(db, "DELETE FROM users WHERE aor_key = ?").bind(aor_key).run();
    if (user) {
      const std::string domain = user->domain.empty() ? std::string(domain_of(user->aor)) : user->domain;
      Statement(db, "INSERT INTO users (aor_key, aor, domain_key, domain, role) VALUES (?, ?, ?, ?, ?)")
          .bind(aor_key, user->aor, lower(domain), domain, user->role)
          .run();
      Statement insert(
          db, "INSERT OR REPLACE INTO user_credentials (aor_key, realm, algorithm, ha1) VALUES (?, ?, ?, ?)");
      for (const UserCredential& c : user->credentials)
        insert.bind(aor_key, c.realm, c.algorithm, c.ha1).run();
    }
    execute(db, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

StoreStatus status_of(const SqliteError& e) {
  const int primary = e.code() & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL ||
                 primary == SQLITE_IOERR || primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN
             ? StoreStatus::kUnavailable
             : StoreStatus::kError;
}

}  // namespace

SqliteUserStore::SqliteUserStore(const std::string& path, const SqliteLocationStoreOptions& options,
                                 CurrentLoop current_loop)
    : db_(open_database(path)), current_loop_(std::move(current_loop)) {
  check(db_.get(), sqlite3_busy_timeout(db_.get(), static_cast<int>(options.busy_timeout.count())),
        "setting the busy timeout");
  execute(db_.get(), options.synchronous == SynchronousMode::kFull ? "PRAGMA synchronous = FULL"
                                                                   : "PRAGMA synchronous = NORMAL");
  // HA1 values are password equivalents: nobody but the server's user reads them.
  namespace fs = std::filesystem;
  std::error_code ignored;
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ignored);
  worker_ = std::thread([this] { run(); });
}

SqliteUserStore::~SqliteUserStore() { stop(); }

void SqliteUserStore::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void SqliteUserStore::submit(Job job, std::function<void()> refused) {
  EventLoop& loop = current_loop_();
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.emplace_back(std::move(job), &loop);
      wake_.notify_one();
      return;
    }
  }
  loop.post(std::move(refused));
}

void SqliteUserStore::run() {
  for (;;) {
    std::pair<Job, EventLoop*> next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    next.second->post(next.first(db_.get()));
  }
}

void SqliteUserStore::find_user(std::string_view aor, UserDone done) {
  submit(
      [key = lower(aor), done](sqlite3* db) -> std::function<void()> {
        try {
          return [done, user = read_user(db, key)] { done(StoreStatus::kOk, user); };
        } catch (const SqliteError& e) {
          return [done, status = status_of(e)] { done(status, std::nullopt); };
        }
      },
      [done] { done(StoreStatus::kUnavailable, std::nullopt); });
}

void SqliteUserStore::list_users(std::string_view domain, UserListDone done) {
  submit(
      [key = lower(domain), done](sqlite3* db) -> std::function<void()> {
        try {
          return [done, users = read_domain(db, key)] { done(StoreStatus::kOk, users); };
        } catch (const SqliteError& e) {
          return [done, status = status_of(e)] { done(status, {}); };
        }
      },
      [done] { done(StoreStatus::kUnavailable, {}); });
}

void SqliteUserStore::put_user(const UserRecord& user, UserWriteDone done) {
  submit(
      [user, done](sqlite3* db) -> std::function<void()> {
        StoreStatus status = StoreStatus::kOk;
        try {
          write_user(db, lower(user.aor), &user);
        } catch (const SqliteError& e) {
          status = status_of(e);
        }
        return [done, status] { done(status); };
      },
      [done] { done(StoreStatus::kUnavailable); });
}

void SqliteUserStore::remove_user(std::string_view aor, UserWriteDone done) {
  submit(
      [key = lower(aor), done](sqlite3* db) -> std::function<void()> {
        StoreStatus status = StoreStatus::kOk;
        try {
          write_user(db, key, nullptr);
        } catch (const SqliteError& e) {
          status = status_of(e);
        }
        return [done, status] { done(status); };
      },
      [done] { done(StoreStatus::kUnavailable); });
}

}  // namespace homesip::location_sqlite
