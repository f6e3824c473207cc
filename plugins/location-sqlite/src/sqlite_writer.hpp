// The one thread that writes to the file. The loop thread queues changes; the
// writer takes everything queued (up to max_batch), writes it in one
// transaction, and hands the batch back with its outcome, so one fsync and one
// loop wake-up confirm many REGISTERs.
//
// Group commit: evenly spaced updates would otherwise find the writer idle
// one by one and each pay a transaction (an fsync, two thread wake-ups and a
// loop wake-up). So while updates keep coming, the first one queued may wait
// up to the commit window for others to join its transaction; see gather().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "binding_index.hpp"
#include "bindings_database.hpp"
#include "guarded_database.hpp"
#include "homesip/location_store.hpp"
#include "homesip/loop.hpp"
#include "homesip/user_store.hpp"

namespace homesip::location_sqlite {

// One queued change.
struct PendingWrite {
  enum class Kind {
    kChange,   // the AOR's bindings changed: remove and upsert rows
    kBarrier,  // nothing changed; only orders `done` after the writes queued before it
    kSweep,    // delete the rows in `expired` that are still expired at the cutoff
    kUser,     // the user `aor` (its key) replaced by `user`, or removed when it is null
  };
  Kind kind = Kind::kChange;
  std::string aor;
  // The AOR's whole list once this write is applied (shared with the index,
  // never changed): what `done` reports, and what is written instead of the
  // diff when the rows cannot be trusted.
  SharedBindings bindings;
  std::vector<std::string> removed_contacts;  // kChange: gone since the previous write
  std::vector<uint32_t> upserted;             // kChange: positions in `bindings` new or changed
  std::vector<ExpiredContact> expired;        // kSweep: rows to delete if still expired at the cutoff
  bool expired_at_load = false;               // kSweep: rows the load found expired, not the index's
  int64_t expired_cutoff = 0;                 // kSweep
  UpdateDone done;                            // empty for sweeps and users
  std::shared_ptr<const UserRecord> user;     // kUser
  UserWriteDone user_done;                    // kUser
  // The loop of the thread that asked: where `done` or `user_done` runs.
  // Null: the store's own loop.
  EventLoop* reply_loop = nullptr;
};

// Two lists (before and after an edit) as the change the writer applies.
PendingWrite describe_change(std::string_view aor, const BindingList& before, BindingList after);

struct BatchOutcome {
  bool committed = false;
  std::string error;      // why it was not
  std::string recovered;  // when committed after the file was recovered: how
  // When not committed: each AOR of the batch as the file still has it
  // (unexpired, sorted), or nullopt when even reading it failed.
  std::unordered_map<std::string, std::optional<BindingList>> stored_after_failure;
};

struct WrittenBatch {
  std::vector<PendingWrite> writes;
  BatchOutcome outcome;
};

class SqliteWriter {
 public:
  // Called on the writer thread after each transaction, in queue order.
  using BatchWritten = std::function<void(WrittenBatch batch)>;

  // While the file cannot be written (see GuardedDatabase), the writer also
  // retries every `retry_interval` when idle, so the first update after the
  // file is fixed finds it ready.
  // `commit_window` and `commit_batch`: see gather(); a zero window takes
  // what is queued at once.
  SqliteWriter(GuardedDatabase database, size_t max_batch, std::chrono::milliseconds retry_interval,
               std::chrono::microseconds commit_window, size_t commit_batch, BatchWritten on_written);
  ~SqliteWriter();  // finish()
  SqliteWriter(const SqliteWriter&) = delete;
  SqliteWriter& operator=(const SqliteWriter&) = delete;

  // False, with nothing queued, once finish() began.
  bool enqueue(PendingWrite write);
  // Writes what is queued, reports it, and ends the thread. Idempotent.
  void finish();

  uint64_t committed_transactions() const { return committed_.load(); }
  uint64_t failed_transactions() const { return failed_.load(); }
  // Queued changes (updates, barriers, sweeps) the committed transactions held.
  uint64_t committed_writes() const { return committed_writes_.load(); }

 private:
  void run();
  std::vector<PendingWrite> take_batch();
  void gather(std::unique_lock<std::mutex>& lock);
  BatchOutcome write_batch(const std::vector<PendingWrite>& writes);
  void wait_for_work(std::unique_lock<std::mutex>& lock);
  void apply(BindingsDatabase& database, const PendingWrite& write);
  void replace_rows(BindingsDatabase& database, const PendingWrite& write);
  void distrust_and_reload(const std::vector<PendingWrite>& writes, BatchOutcome& outcome);

  GuardedDatabase database_;  // writer thread only
  const size_t max_batch_;
  const std::chrono::milliseconds retry_interval_;
  const std::chrono::steady_clock::duration commit_window_;
  const size_t commit_batch_;  // gathering ends once this many are queued (≤ max_batch_)
  BatchWritten on_written_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingWrite> queue_;
  bool finishing_ = false;
  bool idle_ = false;       // the writer waits for work: only then is a wake-up needed
  bool gathering_ = false;  // the writer waits for a batch to fill: woken only once it is full
  // Group commit (mutex_): when the queue's oldest write came, when the one
  // before it came, and whether the gap between them says more will come
  // within the window.
  std::chrono::steady_clock::time_point oldest_queued_at_{};
  std::chrono::steady_clock::time_point last_queued_at_{};
  bool writes_keep_coming_ = false;
  // Waits that ended with their write alone, in a row; past two, none until quiet_until_.
  static constexpr int kLeanGathersBeforeQuiet = 2;
  static constexpr int kQuietWindows = 64;
  int lean_gathers_ = 0;
  std::chrono::steady_clock::time_point quiet_until_{};

  // Writer thread only. A diff is only right if every write before it was
  // committed; after a failed batch, the loop thread may already have queued
  // diffs computed on top of the lost changes. The next write of such an AOR
  // replaces all its rows instead, which is right whatever the file holds.
  std::unordered_set<std::string> distrusted_aors_;

  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> committed_writes_{0};
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace homesip::location_sqlite
