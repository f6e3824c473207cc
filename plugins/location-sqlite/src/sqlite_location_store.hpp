// homesip::LocationStore on a local SQLite file, built for a registrar's hot
// path. Memory is authoritative for reads: every unexpired binding is loaded
// at start, lookup and list_aors answer at once from memory. An update edits
// memory at once and queues the row changes for one writer thread, which
// writes whatever has queued in one transaction and then confirms the whole
// batch with one task posted to the loop. So an update's `done` runs only once
// its rows -- and every update queued before it -- are committed.
//
// When a transaction fails (locked beyond busy_timeout, disk full, I/O error)
// its updates are answered kUnavailable and memory is put back to what the
// file holds for those AORs, so memory never keeps claiming what is not
// durable. The same when the file at the path is no longer the file open
// (deleted, replaced) or was opened read-only: the writer then reopens or
// recreates it in the background (GuardedDatabase) and writing resumes
// without a restart.
//
// The file also holds the embedded user store's users (SqliteUserStore is
// their face): kept in memory like the bindings, written by the same writer
// in the same transactions, carried into a new file by the same recovery.
//
// Answers run on the loop of the thread that called (the SDK's thread
// model): reads and refusals at once, confirmations posted there by the
// writer thread once it has done the store's bookkeeping for the batch.
//
// Threads (`server.loops: N`): update, lookup, list_aors and write_user come
// from every loop thread at once; the sweep runs on the store's loop, the
// bookkeeping after each transaction on the writer thread. One mutex guards
// the index and the in-flight counts; it is held to copy or replace an AOR's
// list and to queue its write, never while a caller's editor or callback
// runs: an update edits a copy unlocked and stores it only if the AOR's list
// is still the version it copied, else edits the newer one again (editors
// may run more than once).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "binding_index.hpp"
#include "expired_rows.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"
#include "homesip/user_store.hpp"
#include "store_options.hpp"
#include "user_rows.hpp"

namespace homesip::location_sqlite {

class BindingsDatabase;
class SqliteWriter;
struct PendingWrite;
struct WrittenBatch;
struct BatchOutcome;

// The file could not be opened, configured, migrated or read.
class StoreOpenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The loop of the calling thread (PluginContext::current_loop).
using CurrentLoop = std::function<EventLoop&()>;

class SqliteLocationStore final : public LocationStore {
 public:
  // Opens or creates `path`, loads its unexpired bindings and its users,
  // starts the writer thread and the expiry sweep. On the loop thread.
  // `current_loop` tells where to answer a caller; without it, on `loop`.
  // Throws StoreOpenError.
  SqliteLocationStore(std::string path, SqliteLocationStoreOptions options, EventLoop& loop, Logger& logger,
                      CurrentLoop current_loop = {});
  // Stops if stop() was not called, then closes the file. On the loop thread.
  ~SqliteLocationStore() override;
  SqliteLocationStore(const SqliteLocationStore&) = delete;
  SqliteLocationStore& operator=(const SqliteLocationStore&) = delete;

  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override;
  void lookup(std::string_view aor, LookupDone done) override;
  void list_aors(std::string_view domain, ListDone done) override;

  // The users the file holds, as committed (any thread).
  const UserTable& users() const { return users_; }
  // Replaces the user under `key` (user_key of its AOR) with `user`, or
  // removes it when `user` is null; `done` runs on the caller's loop once
  // that is committed (memory then has it), or with kUnavailable when it
  // was not or the store is stopped. Any loop thread.
  void write_user(std::string key, std::shared_ptr<const UserRecord> user, UserWriteDone done);

  // Writes everything queued and ends the writer thread; the confirmations
  // are posted to the loop, which runs them once stop() has returned. Later
  // updates are answered kUnavailable; reads keep working. Idempotent.
  void stop();

  const std::string& path() const { return path_; }
  // Transactions the writer committed / saw fail so far (any thread).
  uint64_t committed_transactions() const;
  uint64_t failed_transactions() const;
  // Queued writes (updates, users, sweeps) the committed transactions held (any thread).
  uint64_t committed_writes() const;
  // AORs with bindings in memory, expired ones until the next sweep (any thread).
  size_t aor_count() const;
  // Queued writes whose transaction the writer has not reported yet (any
  // thread); their callers may hear of them a moment later, on their loops.
  size_t writes_in_flight() const;

 private:
  // What one attempt of an update did.
  enum class Attempt { kDone, kRaced };

  void load(BindingsDatabase& database);
  EventLoop* caller_loop();
  Attempt try_update(std::string_view aor, const BindingEditor& edit, UpdateDone& done,
                     EventLoop* reply_loop);
  Attempt confirm_unchanged(std::string_view aor, uint64_t version, SharedBindings current, UpdateDone& done,
                            EventLoop* reply_loop);
  void enqueue_locked(PendingWrite write);
  void queue_expired_at_load_locked();
  void continue_expired_at_load_locked(const WrittenBatch& batch);
  void sweep();
  void sweep_slice();
  // The writer thread's, after each transaction.
  void post_confirmations(WrittenBatch batch);
  void on_batch_written(const WrittenBatch& batch);
  // The ..._locked functions run with mutex_ held.
  void count_confirmed_locked(const WrittenBatch& batch);
  void restore_from_file_locked(const BatchOutcome& outcome);
  void report_health(const BatchOutcome& outcome);

  const std::string path_;
  const SqliteLocationStoreOptions options_;
  EventLoop& loop_;
  Logger& logger_;
  const CurrentLoop current_loop_;
  UserTable users_;

  // Guards what every loop thread's callers share with the store's loop.
  mutable std::mutex mutex_;
  BindingIndex index_;
  // Writes queued in this order under mutex_, so the writer gets each AOR's
  // diffs in the order the index took them.
  size_t writes_in_flight_ = 0;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> writes_in_flight_by_aor_;
  bool stopped_ = false;
  SweepCursor sweep_cursor_;
  // Rows the load found expired (they expired while homesipd was down): not
  // in the index, deleted by key from the first sweep on, one write of
  // kExpiredAtLoadPerWrite at a time. Where a scan of the file at start held
  // the first REGISTERs behind it, their keys wait in memory (some 64 bytes
  // each) until the sweep is done with them.
  ExpiredRows expired_at_load_;
  bool expired_at_load_queued_ = false;
  int64_t loaded_at_ = 0;  // the cutoff of their deletes

  bool writes_failing_ = false;  // the writer thread only
  bool sweeping_ = false;        // the store's loop only: a pass's slices are still being posted
  // Sweep slices posted to the loop may run after the store is gone (the
  // loop drains its queue late in shutdown); they check this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::unique_ptr<SqliteWriter> writer_;
  std::unique_ptr<Timer> sweep_timer_;
};

}  // namespace homesip::location_sqlite
