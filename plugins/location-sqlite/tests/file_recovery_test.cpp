// The store tells the truth about its file: when the file at the path is no
// longer the file open (its directory deleted, another file renamed over it)
// or could only be opened read-only, updates are answered kUnavailable --
// never kOk -- and once the cause is fixed, writing resumes without a
// restart, with every binding confirmed before and after in the file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "bindings_database.hpp"
#include "sqlite_user_store.hpp"
#include "test_support.hpp"
#include "user_rows.hpp"

namespace homesip::location_sqlite::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Makes a file unwritable for this process and later fixes it. Tests often
// run as root, and root ignores file modes (chmod 0444 changes nothing for
// it), but not the immutable flag (chattr +i): opening the file for writing
// fails with EPERM even for root, so SQLite falls back to read-only exactly
// as it does for an unprivileged homesipd on a 0444 file, and clearing the
// flag fixes it for real. Other ways were rejected: a lock held by another
// connection only delays writes (the existing busy-timeout test covers it)
// and never leaves the connection read-only; replacing the file with a
// directory is the "replaced" case. Without root, chmod 0444 does the same.
class UnwritableFile {
 public:
  explicit UnwritableFile(std::string path) : path_(std::move(path)) {
    made_ = geteuid() == 0 ? set_immutable(true) : chmod(path_.c_str(), 0444) == 0;
  }
  ~UnwritableFile() { fix(); }
  UnwritableFile(const UnwritableFile&) = delete;
  UnwritableFile& operator=(const UnwritableFile&) = delete;

  // False when the file system or the capabilities do not allow it.
  bool made() const { return made_; }
  void fix() {
    if (!made_) return;
    made_ = !(geteuid() == 0 ? set_immutable(false) : chmod(path_.c_str(), 0644) == 0);
  }

 private:
  bool set_immutable(bool on) const {
    const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    int flags = 0;
    bool done = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
    done = done && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    close(fd);
    return done;
  }

  std::string path_;
  bool made_ = false;
};

class FileRecoveryTest : public StoreTest {
 protected:
  static SqliteLocationStoreOptions quick_retries() {
    SqliteLocationStoreOptions options;
    options.retry_interval = 100ms;
    return options;
  }

  // Updates `aor` until one is confirmed (kOk) or `timeout` passes; every
  // answer before that must be kUnavailable, never a half-truth.
  StoreStatus update_until_ok(const std::string& aor, const Binding& binding,
                              std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const StoreStatus status = update(aor, put(binding)).status;
      if (status != StoreStatus::kUnavailable || std::chrono::steady_clock::now() > deadline) return status;
      run_until([] { return false; }, 50ms);
    }
  }

  size_t errors_mentioning(const std::string& text) const {
    size_t count = 0;
    for (const auto& line : logger_.lines())
      if (line.level == LogLevel::kError && line.text.find(text) != std::string::npos) ++count;
    return count;
  }

  // The answer to a put_user, once it came (kError when it did not).
  StoreStatus put_user(UserStore& users, const UserRecord& user) {
    auto status = std::make_shared<std::optional<StoreStatus>>();
    users.put_user(user, [status](StoreStatus s) { *status = s; });
    EXPECT_TRUE(run_until([&] { return status->has_value(); })) << "no answer to put_user " << user.aor;
    return status->value_or(StoreStatus::kError);
  }

  // put_user until one is confirmed or `timeout` passes; every answer before
  // that must be kUnavailable.
  StoreStatus put_user_until_ok(UserStore& users, const UserRecord& user,
                                std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const StoreStatus status = put_user(users, user);
      if (status != StoreStatus::kUnavailable || std::chrono::steady_clock::now() > deadline) return status;
      run_until([] { return false; }, 50ms);
    }
  }

  // find_user, which must answer before it returns (from memory, no I/O).
  std::optional<UserRecord> find_user(UserStore& users, const std::string& aor) {
    std::optional<StoreStatus> status;
    std::optional<UserRecord> found;
    users.find_user(aor, [&](StoreStatus s, const std::optional<UserRecord>& user) {
      status = s;
      found = user;
    });
    EXPECT_EQ(status, StoreStatus::kOk) << "find_user " << aor << " did not answer at once with kOk";
    return found;
  }

  bool logged(const std::string& text) const {
    for (const auto& line : logger_.lines())
      if (line.text.find(text) != std::string::npos) return true;
    return false;
  }
};

const Binding kBefore = make_binding("sip:before@192.0.2.1", 3600);
const Binding kDuring = make_binding("sip:during@192.0.2.2", 3600);
const Binding kAfter = make_binding("sip:after@192.0.2.3", 3600);

UserRecord make_user(const std::string& aor, char ha1_digit) {
  return UserRecord{aor, "home.test", "member", {{"home.test", "MD5", std::string(32, ha1_digit)}}};
}
const UserRecord kUserBefore = make_user("Before@home.test", 'a');
const UserRecord kUserDuring = make_user("during@home.test", 'b');
const UserRecord kUserAfter = make_user("after@home.test", 'c');

// The users in the file at `path` as another process sees them: "aor realm
// algorithm ha1" per credential, sorted.
std::string users_in_file(const std::string& path) {
  return OutsideConnection(path)
      .query_text(
          "SELECT group_concat(line, '; ') FROM (SELECT u.aor || ' ' || c.realm || ' ' || c.algorithm || ' ' "
          "|| "
          "c.ha1 AS line FROM users u JOIN user_credentials c ON c.aor_key = u.aor_key ORDER BY u.aor_key)")
      .value_or("");
}

std::string line_of(const UserRecord& user) {
  const UserCredential& c = user.credentials.at(0);
  return user.aor + " " + c.realm + " " + c.algorithm + " " + c.ha1;
}

TEST_F(FileRecoveryTest, DeletedDirectoryFailsWritesUntilRecreatedThenTheFileHasEverything) {
  const fs::path store_dir = directory_.path() / "store";
  fs::create_directory(store_dir);
  path_ = (store_dir / "location.sqlite").string();
  open(quick_retries());
  ASSERT_EQ(update("u1@home.test", put(kBefore)).status, StoreStatus::kOk);
  const uint64_t failed_before = store_->failed_transactions();

  fs::remove_all(store_dir);
  EXPECT_EQ(update("u2@home.test", put(kDuring)).status, StoreStatus::kUnavailable);
  EXPECT_EQ(update("u2@home.test", put(kDuring)).status, StoreStatus::kUnavailable);
  EXPECT_GE(store_->failed_transactions(), failed_before + 2);
  EXPECT_TRUE(lookup("u2@home.test").empty()) << "memory claims a binding no file holds";
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{kBefore.contact});
  EXPECT_EQ(logger_.count(LogLevel::kError), 1u) << "one error per change of state, not per batch";
  EXPECT_EQ(errors_mentioning(path_ + " was deleted or replaced"), 1u);

  fs::create_directory(store_dir);
  // The writer's own retry makes the new file, before any update asks.
  EXPECT_TRUE(run_until([&] { return fs::exists(path_); }, 3s)) << "no background recovery";
  EXPECT_EQ(update("u3@home.test", put(kAfter)).status, StoreStatus::kOk);
  EXPECT_TRUE(logged("writing works again"));
  EXPECT_EQ(logger_.count(LogLevel::kError), 1u);

  close();
  open();
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{kBefore.contact});
  EXPECT_TRUE(lookup("u2@home.test").empty());
  EXPECT_EQ(contacts_of(lookup("u3@home.test")), std::vector<std::string>{kAfter.contact});
}

TEST_F(FileRecoveryTest, FileRenamedOverTheOpenOneIsRefilledWithWhatMemoryHolds) {
  open(quick_retries());
  ASSERT_EQ(update("u1@home.test", put(kBefore)).status, StoreStatus::kOk);
  // Another store's file, with a binding this store never confirmed.
  const std::string other = directory_.file("other.sqlite");
  { BindingsDatabase(other, SynchronousMode::kFull, 1000ms).upsert("stranger@home.test", kDuring); }
  ASSERT_EQ(OutsideConnection(other).row_count(), 1);
  fs::rename(other, path_);

  EXPECT_EQ(update("u2@home.test", put(kDuring)).status, StoreStatus::kUnavailable);
  EXPECT_EQ(errors_mentioning(path_ + " was deleted or replaced"), 1u);
  EXPECT_EQ(update_until_ok("u3@home.test", kAfter), StoreStatus::kOk);
  EXPECT_EQ(logger_.count(LogLevel::kError), 1u);

  close();
  EXPECT_EQ(OutsideConnection(path_).contacts_of("stranger@home.test"), std::vector<std::string>{})
      << "the new file keeps a binding memory never held";
  open();
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{kBefore.contact});
  EXPECT_TRUE(lookup("u2@home.test").empty());
  EXPECT_EQ(contacts_of(lookup("u3@home.test")), std::vector<std::string>{kAfter.contact});
}

TEST_F(FileRecoveryTest, FileOpenedReadOnlyWritesAgainOnceFixedWithoutRestart) {
  open();
  ASSERT_EQ(update("u1@home.test", put(kBefore)).status, StoreStatus::kOk);
  close();
  UnwritableFile unwritable(path_);
  if (!unwritable.made()) GTEST_SKIP() << "cannot make " << path_ << " unwritable here";

  open(quick_retries());  // SQLite falls back to read-only without a word
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{kBefore.contact});
  EXPECT_EQ(update("u2@home.test", put(kDuring)).status, StoreStatus::kUnavailable);
  EXPECT_EQ(update("u2@home.test", put(kDuring)).status, StoreStatus::kUnavailable);
  EXPECT_EQ(errors_mentioning("read-only"), 1u);
  EXPECT_EQ(logger_.count(LogLevel::kError), 1u);

  unwritable.fix();
  EXPECT_EQ(update_until_ok("u2@home.test", kDuring), StoreStatus::kOk);
  EXPECT_TRUE(logged("writing works again (the file was reopened for writing)"));

  close();
  open();
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{kBefore.contact});
  EXPECT_EQ(contacts_of(lookup("u2@home.test")), std::vector<std::string>{kDuring.contact});
}

TEST_F(FileRecoveryTest, UsersFollowTheFileWhenItsDirectoryIsDeletedAndRecreated) {
  const fs::path store_dir = directory_.path() / "store";
  fs::create_directory(store_dir);
  path_ = (store_dir / "location.sqlite").string();
  open(quick_retries());
  auto users = std::make_unique<SqliteUserStore>(*store_);
  ASSERT_EQ(put_user(*users, kUserBefore), StoreStatus::kOk);

  fs::remove_all(store_dir);
  EXPECT_EQ(put_user(*users, kUserDuring), StoreStatus::kUnavailable) << "confirmed into a deleted file";
  EXPECT_FALSE(find_user(*users, "during@home.test")) << "memory claims a user no file holds";
  // Authentication keeps working from memory while there is no file at all.
  const std::optional<UserRecord> before = find_user(*users, "before@HOME.test");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->credentials.at(0).ha1, kUserBefore.credentials.at(0).ha1);

  fs::create_directory(store_dir);
  EXPECT_TRUE(run_until([&] { return fs::exists(path_); }, 3s)) << "no background recovery";
  EXPECT_EQ(put_user_until_ok(*users, kUserAfter), StoreStatus::kOk);
  EXPECT_EQ(users_in_file(path_), line_of(kUserAfter) + "; " + line_of(kUserBefore))
      << "the new file lacks the carried user or the new put";
  struct stat status {};
  ASSERT_EQ(stat(path_.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 0777, 0600u) << "the new file holds HA1 values";

  users.reset();
  close();
  open();
  users = std::make_unique<SqliteUserStore>(*store_);
  EXPECT_TRUE(find_user(*users, "before@home.test"));
  EXPECT_TRUE(find_user(*users, "after@home.test"));
  EXPECT_FALSE(find_user(*users, "during@home.test"));
}

TEST_F(FileRecoveryTest, UsersFollowTheFileWhenAnotherIsRenamedOverIt) {
  open(quick_retries());
  auto users = std::make_unique<SqliteUserStore>(*store_);
  ASSERT_EQ(put_user(*users, kUserBefore), StoreStatus::kOk);
  // Another store's file, with a user this store never confirmed.
  const std::string other = directory_.file("other.sqlite");
  {
    BindingsDatabase database(other, SynchronousMode::kFull, 1000ms);
    const UserRecord stranger = make_user("stranger@home.test", 'f');
    write_user_rows(database.handle(), user_key(stranger.aor), &stranger);
  }
  ASSERT_EQ(users_in_file(other), line_of(make_user("stranger@home.test", 'f')));
  fs::rename(other, path_);

  EXPECT_EQ(put_user(*users, kUserDuring), StoreStatus::kUnavailable) << "confirmed into the replaced file";
  EXPECT_EQ(put_user_until_ok(*users, kUserDuring), StoreStatus::kOk);
  // The new put lands in the file at the path, next to the carried user, and
  // the stranger's row is gone (memory never held it).
  EXPECT_EQ(users_in_file(path_), line_of(kUserBefore) + "; " + line_of(kUserDuring));
  EXPECT_FALSE(find_user(*users, "stranger@home.test"));

  // A removal lands in the new file too.
  auto removed = std::make_shared<std::optional<StoreStatus>>();
  users->remove_user("before@home.test", [removed](StoreStatus s) { *removed = s; });
  ASSERT_TRUE(run_until([&] { return removed->has_value(); }));
  EXPECT_EQ(**removed, StoreStatus::kOk);
  EXPECT_EQ(users_in_file(path_), line_of(kUserDuring));
  EXPECT_FALSE(find_user(*users, "before@home.test"));
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
