#include "guarded_database.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "homesip/binding_list.hpp"
#include "homesip/loop.hpp"
#include "user_rows.hpp"

namespace homesip::location_sqlite {
namespace {

std::string describe_missing(const std::string& path) {
  const int error = errno;
  if (error == ENOENT || error == ENOTDIR)
    return path + " was deleted or replaced: there is no file there now";
  return "cannot check " + path + " (" + std::strerror(error) + ")";
}

bool directory_of_exists(const std::string& path) {
  std::error_code error;
  const std::filesystem::path parent = std::filesystem::absolute(path, error).parent_path();
  return !error && std::filesystem::is_directory(parent, error);
}

// The file holds HA1 values, password equivalents: nobody but the server's
// user reads them. Best effort, like at start.
void make_owner_only(const std::string& path) {
  std::error_code ignored;
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace, ignored);
}

}  // namespace

GuardedDatabase::GuardedDatabase(BindingsDatabase database, std::string path, SynchronousMode synchronous,
                                 std::chrono::milliseconds busy_timeout)
    : path_(std::move(path)), synchronous_(synchronous), busy_timeout_(busy_timeout) {
  database_.emplace(std::move(database));
  // A file opened read-only fails the first transaction with this, which is
  // what gets logged.
  problem_ = diagnose();
}

BindingsDatabase& GuardedDatabase::for_writing() {
  if (broken()) {
    recover();
    if (broken()) throw std::runtime_error(problem_ + "; " + recovery_error_);
    return *database_;
  }
  // Found now: this transaction fails, and recovery starts with the next
  // one or the writer's retry. The 503 in between is the truth; a commit to
  // the old file would be a 200 that a restart forgets.
  problem_ = diagnose();
  if (broken()) throw std::runtime_error(problem_);
  return *database_;
}

std::string GuardedDatabase::diagnose() const {
  if (!database_) return path_ + " was deleted or replaced";
  const std::optional<FileIdentity> at_path = identity_of(path_);
  if (!at_path) return describe_missing(path_);
  if (*at_path != database_->identity()) return path_ + " was deleted or replaced: another file is there now";
  if (database_->read_only())
    return path_ +
           " could only be opened read-only (its or its -wal/-shm files' permissions, owner or "
           "immutable flag)";
  return {};
}

bool GuardedDatabase::same_file_at_path() const {
  const std::optional<FileIdentity> at_path = identity_of(path_);
  return at_path && database_ && *at_path == database_->identity();
}

void GuardedDatabase::recover() {
  try {
    if (database_ && !same_file_at_path()) carry_rows_out();
    BindingsDatabase fresh = open_writable();
    if (carried_) {
      // Memory holds what was confirmed, and the old file held exactly
      // that: whatever the new file had is replaced, not merged.
      make_owner_only(path_);
      fresh.replace_all(*carried_, carried_users_);
      recovery_note_ = "a new file was made at the path with the " + std::to_string(carried_->size()) +
                       " bindings and " + std::to_string(carried_users_.size()) + " users the old one held";
      carried_.reset();
      carried_users_.clear();
    } else {
      recovery_note_ = "the file was reopened for writing";
    }
    database_.reset();  // the old connection to the same file, when reopening it
    database_.emplace(std::move(fresh));
    problem_.clear();
    recovery_error_.clear();
  } catch (const std::exception& e) {
    recovery_error_ = e.what();
  }
}

void GuardedDatabase::carry_rows_out() {
  // Closing the old file is only worth it once a new one can be made there.
  if (!directory_of_exists(path_))
    throw std::runtime_error("the directory of " + path_ + " is missing or cannot be searched");
  carried_users_ = read_all_users(database_->handle());
  carried_ = database_->all_unexpired(unix_now());
  // Closing checkpoints into the old file and removes its -wal and -shm
  // names, which are still at the path when only the file was replaced: a
  // new file opened there first would take the old file's WAL as its own.
  database_.reset();
}

BindingsDatabase GuardedDatabase::open_writable() const {
  BindingsDatabase fresh(path_, synchronous_, busy_timeout_);
  if (fresh.read_only()) throw std::runtime_error("reopening " + path_ + ": still read-only");
  return fresh;
}

BindingList GuardedDatabase::unexpired_of(std::string_view aor, int64_t now) {
  if (database_) return database_->unexpired_of(aor, now);
  if (!carried_) throw std::logic_error("no file and no carried bindings");
  BindingList bindings;
  for (const StoredBinding& stored : *carried_)
    if (stored.aor == aor && stored.binding.expires_at > now) bindings.push_back(stored.binding);
  return bindings;
}

std::string GuardedDatabase::take_recovery_note() { return std::exchange(recovery_note_, {}); }

}  // namespace homesip::location_sqlite
