// homesip::UserStore in the location store's SQLite file (tables `users` and
// `user_credentials`, schema version 3), so a server needs no directory for
// its users. Off the hot path of REGISTER but on that of authentication, so
// the loop never touches the file: one worker thread owns a second connection
// and runs each call; its answer is posted to the loop of the thread that
// called. A put or remove is committed (synchronous as configured) before
// its `done` runs. The file holds HA1 secrets: it is made owner-only (0600).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "homesip/loop.hpp"
#include "homesip/user_store.hpp"
#include "sqlite_statement.hpp"
#include "store_options.hpp"

namespace homesip::location_sqlite {

class SqliteUserStore final : public UserStore {
 public:
  // The loop of the calling thread: where each answer is posted.
  using CurrentLoop = std::function<EventLoop&()>;

  // Opens `path` (already created and migrated by the location store). Throws
  // SqliteError when it cannot.
  SqliteUserStore(const std::string& path, const SqliteLocationStoreOptions& options,
                  CurrentLoop current_loop);
  ~SqliteUserStore() override;  // stop()
  SqliteUserStore(const SqliteUserStore&) = delete;
  SqliteUserStore& operator=(const SqliteUserStore&) = delete;

  void find_user(std::string_view aor, UserDone done) override;
  void list_users(std::string_view domain, UserListDone done) override;
  void put_user(const UserRecord& user, UserWriteDone done) override;
  void remove_user(std::string_view aor, UserWriteDone done) override;

  // Runs what is queued, then ends the worker; later calls answer kUnavailable. Idempotent.
  void stop();

 private:
  // Runs on the worker with the connection; returns the answer to post.
  using Job = std::function<std::function<void()>(sqlite3* db)>;
  void submit(Job job, std::function<void()> refused);
  void run();

  DatabaseHandle db_;  // worker thread only, once started
  CurrentLoop current_loop_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<Job, EventLoop*>> queue_;
  bool stopping_ = false;
  std::thread worker_;  // last: started once everything above exists
};

}  // namespace homesip::location_sqlite
