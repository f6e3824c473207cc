#include "user_rows.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "homesip/binding_list.hpp"
#include "sqlite_statement.hpp"

namespace homesip::location_sqlite {
namespace {

std::string domain_key_of(const UserRecord& user) {
  return user_key(user.domain.empty() ? domain_of(user.aor) : std::string_view(user.domain));
}

}  // namespace

std::string user_key(std::string_view aor) {
  std::string key(aor);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  return key;
}

std::vector<UserRecord> read_all_users(sqlite3* db) {
  std::map<std::string, UserRecord> by_key;
  Statement users(db, "SELECT aor_key, aor, domain, role FROM users");
  users.bind();
  while (users.next_row())
    by_key.emplace(users.text(0), UserRecord{users.text(1), users.text(2), users.text(3), {}});
  Statement credentials(
      db, "SELECT aor_key, realm, algorithm, ha1 FROM user_credentials ORDER BY aor_key, realm, algorithm");
  credentials.bind();
  while (credentials.next_row()) {
    const auto user = by_key.find(credentials.text(0));
    if (user != by_key.end())
      user->second.credentials.push_back(
          UserCredential{credentials.text(1), credentials.text(2), credentials.text(3)});
  }
  std::vector<UserRecord> all;
  all.reserve(by_key.size());
  for (auto& [key, user] : by_key) all.push_back(std::move(user));
  return all;
}

void write_user_rows(sqlite3* db, const std::string& key, const UserRecord* user) {
  Statement(db, "DELETE FROM user_credentials WHERE aor_key = ?").bind(key).run();
  Statement(db, "DELETE FROM users WHERE aor_key = ?").bind(key).run();
  if (!user) return;
  const std::string domain = user->domain.empty() ? std::string(domain_of(user->aor)) : user->domain;
  Statement(db, "INSERT INTO users (aor_key, aor, domain_key, domain, role) VALUES (?, ?, ?, ?, ?)")
      .bind(key, user->aor, user_key(domain), domain, user->role)
      .run();
  Statement insert(
      db, "INSERT OR REPLACE INTO user_credentials (aor_key, realm, algorithm, ha1) VALUES (?, ?, ?, ?)");
  for (const UserCredential& c : user->credentials) insert.bind(key, c.realm, c.algorithm, c.ha1).run();
}

void delete_all_user_rows(sqlite3* db) { execute(db, "DELETE FROM user_credentials; DELETE FROM users;"); }

std::optional<UserRecord> UserTable::find(std::string_view key) const {
  std::shared_lock lock(mutex_);
  const auto found = by_key_.find(key);
  if (found == by_key_.end()) return std::nullopt;
  return *found->second.user;
}

std::vector<UserRecord> UserTable::in_domain(std::string_view domain_key) const {
  std::vector<UserRecord> users;
  std::shared_lock lock(mutex_);
  for (const auto& [key, entry] : by_key_)
    if (entry.domain_key == domain_key) users.push_back(*entry.user);
  return users;
}

void UserTable::set(const std::string& key, std::shared_ptr<const UserRecord> user) {
  std::unique_lock lock(mutex_);
  if (!user) {
    by_key_.erase(key);
    return;
  }
  by_key_.insert_or_assign(key, Entry{domain_key_of(*user), std::move(user)});
}

void UserTable::replace_all(const std::vector<UserRecord>& users) {
  std::map<std::string, Entry, std::less<>> by_key;
  for (const UserRecord& user : users)
    by_key.emplace(user_key(user.aor), Entry{domain_key_of(user), std::make_shared<const UserRecord>(user)});
  std::unique_lock lock(mutex_);
  by_key_.swap(by_key);
}

size_t UserTable::size() const {
  std::shared_lock lock(mutex_);
  return by_key_.size();
}

}  // namespace homesip::location_sqlite
