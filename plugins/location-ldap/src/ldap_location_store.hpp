// homesip::LocationStore and homesip::UserStore in an LDAP directory, never
// blocking the loop.
//
// One worker thread owns the connection and runs every directory operation
// in submission order; results come back with post() to the loop of the
// thread that called (the SDK's thread model), through the store's own loop
// first when the store keeps something of them (the cache). So an
// update's `done` runs only once the directory confirmed its write -- and,
// the queue being FIFO, every earlier one.
//
// update: read-modify-write on the worker: the editor runs on the AOR's
//   current bindings as read from the directory; the write asserts the
//   revision it read, so two servers writing one AOR serialise.
// lookup: answered from memory when this server read or wrote the AOR less
//   than `cache` ago, otherwise from the directory (so another server's
//   writes are seen at most `cache` late). While the directory is down, a
//   lookup is answered from the last bindings this server knew, if any.
// list_aors: always from the directory.
// users: always from the directory; put_user and remove_user answer once the
//   directory confirmed the add, modify or delete.
//
// When the directory is down or slower than `timeout`, operations are
// answered kUnavailable at once (the registrar then answers 503 with
// Retry-After) and the worker reconnects with exponential backoff, logging
// each change of state once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"
#include "homesip/user_store.hpp"
#include "ldap_directory.hpp"
#include "ldap_options.hpp"

namespace homesip::location_ldap {

class LdapConnection;

class LdapLocationStore final : public LocationStore, public UserStore {
 public:
  // The loop of the calling thread (PluginContext::current_loop).
  using CurrentLoop = std::function<EventLoop&()>;

  // Starts the worker, which connects in the background. On the loop thread.
  // `current_loop` tells where to answer a caller; without it, on `loop`.
  LdapLocationStore(LdapOptions options, EventLoop& loop, Logger& logger, CurrentLoop current_loop = {});
  ~LdapLocationStore() override;
  LdapLocationStore(const LdapLocationStore&) = delete;
  LdapLocationStore& operator=(const LdapLocationStore&) = delete;

  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override;
  void lookup(std::string_view aor, LookupDone done) override;
  void list_aors(std::string_view domain, ListDone done) override;

  // UserStore: the directory's homesipUser entries (see ldap_directory.hpp).
  void find_user(std::string_view aor, UserDone done) override;
  void list_users(std::string_view domain, UserListDone done) override;
  void put_user(const UserRecord& user, UserWriteDone done) override;
  void remove_user(std::string_view aor, UserWriteDone done) override;

  // How many AORs hold unexpired bindings in the directory (count_aors in
  // ldap_directory.hpp), for the plugin's `aors` gauge. `done` runs on the
  // store's loop, and only while the store lives: with nullopt when the
  // directory did not answer the count, which never changes the store's state.
  void count_aors(std::function<void(std::optional<size_t>)> done);

  // Runs what is queued, then ends the worker. Later calls are answered
  // kUnavailable (lookups from memory when possible). Idempotent.
  void stop();

  // True while the worker holds a working connection (any thread).
  bool connected() const { return connected_.load(); }
  const LdapOptions& options() const { return options_; }

 private:
  struct Job {
    // Runs on the worker; throws LdapError when the directory is unavailable.
    std::function<void(LdapConnection&)> attempt;
    // Called on the worker when the job cannot run.
    std::function<void(StoreStatus status, const std::string& why)> fail;
  };
  struct CachedAor {
    BindingList bindings;
    std::chrono::steady_clock::time_point fetched;
  };

  EventLoop& caller_loop();
  // Queues `job`; once stop() began, answers it kUnavailable (through its fail) instead.
  void enqueue(Job job);
  void write_user_job(std::function<void(LdapConnection&)> write, UserWriteDone done);
  void worker_main();
  void run_job(Job& job);
  void connect();                                   // worker
  void set_state(bool up, const std::string& why);  // worker
  void post(std::function<void()> task);            // worker -> loop, only while the store lives
  void remember(const std::string& aor, const BindingList& bindings);
  std::optional<CachedAor> cached_entry(std::string_view aor) const;  // a copy, taken under cache_mutex_
  BindingList known_bindings(std::string_view aor) const;
  void trim_cache();

  const LdapOptions options_;
  EventLoop& loop_;
  Logger& logger_;
  const CurrentLoop current_loop_;

  // Read by every loop thread's lookup, filled and trimmed on the store's
  // loop: its own mutex, held only to find, copy or change an entry.
  mutable std::mutex cache_mutex_;
  std::unordered_map<std::string, CachedAor> cache_;
  // Set by stop() on the store's loop, read by callers on any loop.
  std::atomic<bool> stopped_{false};
  // The store's loop only.
  std::unique_ptr<Timer> trim_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // An update that lost to other writers of its AOR conflict_retries times:
  // one warn line, then at most one a minute saying how many more were lost
  // meanwhile. (Not an outage: the directory is up, and other AORs' updates
  // succeed in between, so "down"/"back" lines would flap once per conflict.)
  void note_lost_update(const std::string& why);
  std::chrono::steady_clock::time_point next_lost_update_line_{};
  uint64_t lost_updates_unlogged_ = 0;

  // Shared with the worker and the callers' threads.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool finishing_ = false;

  // Worker only.
  std::unique_ptr<LdapConnection> connection_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::optional<bool> logged_up_;
  std::atomic<bool> connected_{false};

  std::thread worker_;
};

}  // namespace homesip::location_ldap
