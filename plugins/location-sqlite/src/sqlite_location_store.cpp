#include "sqlite_location_store.hpp"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "bindings_database.hpp"
#include "homesip/log.hpp"
#include "sqlite_writer.hpp"

namespace homesip::location_sqlite {
namespace {

// A sweep slice's work (BindingIndex::remove_expired's units): about 500
// AORs looked at, or 60 dropped, well under a millisecond (issue 16: at most
// 1 ms of the loop).
constexpr size_t kSweepSliceWork = 1024;

// Rows the load found expired, deleted by key this many per transaction: a
// REGISTER whose transaction carries them waits 1 to 5 ms more (512 deletes
// by key in a file of a million rows took 2.2-2.6 ms for neighbouring keys,
// 4-13 ms for scattered ones, from Python on a shared machine), where the
// whole-file purge at start (a scan of every row: 210 ms) held the first
// REGISTERs.
constexpr size_t kExpiredAtLoadPerWrite = 256;

BindingsDatabase open_database_file(const std::string& path, const SqliteLocationStoreOptions& options) {
  try {
    return BindingsDatabase(path, options.synchronous, options.busy_timeout);
  } catch (const std::exception& e) {
    throw StoreOpenError("location store '" + path + "': " + e.what());
  }
}

// Runs on `loop` the confirmations of the batch's writes asked from it, in
// commit order. Each loop takes the callbacks of its own writes out of the
// shared batch (no other thread touches them) and destroys them here: what
// they hold (a suspended request) belongs to this loop.
void deliver_confirmations(WrittenBatch& batch, const EventLoop* loop) {
  const BatchOutcome& outcome = batch.outcome;
  const StoreStatus status = outcome.committed ? StoreStatus::kOk : StoreStatus::kUnavailable;
  static const BindingList kNone;
  for (PendingWrite& write : batch.writes) {
    if (write.reply_loop != loop) continue;
    if (write.user_done) {
      const UserWriteDone done = std::move(write.user_done);
      done(status);
      continue;
    }
    if (!write.done) continue;
    const BindingList* bindings = write.bindings.get();
    if (!outcome.committed) {
      const auto stored = outcome.stored_after_failure.find(write.aor);
      const bool known = stored != outcome.stored_after_failure.end() && stored->second;
      bindings = known ? &*stored->second : &kNone;
    }
    const UpdateDone done = std::move(write.done);
    done(status, *bindings);
  }
}

}  // namespace

SqliteLocationStore::SqliteLocationStore(std::string path, SqliteLocationStoreOptions options,
                                         EventLoop& loop, Logger& logger, CurrentLoop current_loop)
    : path_(std::move(path)),
      options_(options),
      loop_(loop),
      logger_(logger),
      current_loop_(std::move(current_loop)) {
  BindingsDatabase database = open_database_file(path_, options_);
  load(database);
  GuardedDatabase guarded(std::move(database), path_, options_.synchronous, options_.busy_timeout);
  writer_ = std::make_unique<SqliteWriter>(
      std::move(guarded), options_.max_batch, options_.retry_interval, options_.commit_window,
      options_.commit_batch, [this](WrittenBatch batch) { post_confirmations(std::move(batch)); });
  sweep_timer_ = loop_.start_timer(options_.sweep_interval, true, [this] { sweep(); });
}

SqliteLocationStore::~SqliteLocationStore() {
  stop();
  *alive_ = false;
}

uint64_t SqliteLocationStore::committed_transactions() const { return writer_->committed_transactions(); }

uint64_t SqliteLocationStore::failed_transactions() const { return writer_->failed_transactions(); }

uint64_t SqliteLocationStore::committed_writes() const { return writer_->committed_writes(); }

size_t SqliteLocationStore::aor_count() const {
  std::lock_guard lock(mutex_);
  return index_.aor_count();
}

size_t SqliteLocationStore::writes_in_flight() const {
  std::lock_guard lock(mutex_);
  return writes_in_flight_;
}

void SqliteLocationStore::load(BindingsDatabase& database) {
  size_t count = 0;
  size_t aors = 0;
  loaded_at_ = unix_now();
  // Rows come ordered by AOR: each AOR's rows are copied once, from SQLite's
  // buffers into the builder, and packed into its record (one allocation)
  // once its last row is read. (A map of every AOR first, then the index,
  // held the whole file twice at the peak and left the heap fragmented.)
  std::string aor;
  RecordBuilder bindings;
  const auto store_aor = [&] {
    if (bindings.empty()) return;
    index_.add_loaded(aor, bindings);
    ++aors;
  };
  try {
    const auto add_row = [&](std::string_view row_aor, const BindingView& binding) {
      if (row_aor != aor) {
        store_aor();
        aor.assign(row_aor);
      }
      bindings.add(binding);
      ++count;
    };
    // Expired while homesipd was down: never in memory, so never served;
    // the sweep deletes the row (sweep()).
    const auto remember_expired = [this](std::string_view row_aor, std::string_view contact) {
      expired_at_load_.add(row_aor, contact);
    };
    database.for_each_row(loaded_at_, add_row, remember_expired);
    store_aor();
    index_.shrink_to_fit();
    users_.replace_all(read_all_users(database.handle()));
  } catch (const std::exception& e) {
    throw StoreOpenError("location store '" + path_ +
                         "': reading the bindings and users failed: " + e.what());
  }
  logger_.info("location store ", path_, ": ", count, " bindings of ", aors, " AORs and ", users_.size(),
               " users loaded; ", expired_at_load_.size(), " expired bindings left for the sweep to delete");
}

EventLoop* SqliteLocationStore::caller_loop() { return current_loop_ ? &current_loop_() : &loop_; }

void SqliteLocationStore::write_user(std::string key, std::shared_ptr<const UserRecord> user,
                                     UserWriteDone done) {
  PendingWrite write;
  write.kind = PendingWrite::Kind::kUser;
  write.aor = std::move(key);
  write.user = std::move(user);
  write.user_done = done;
  write.reply_loop = caller_loop();
  // Not counted in writes_in_flight_ (the loop's state): any loop may call
  // this, and no binding's confirmation waits for a user's write.
  if (!writer_->enqueue(std::move(write))) done(StoreStatus::kUnavailable);
}

void SqliteLocationStore::update(std::string_view aor, BindingEditor edit, UpdateDone done) {
  EventLoop* const reply_loop = caller_loop();
  // Another loop's update of the same AOR may land between the copy and the
  // store: then this one edits the newer list. Each round lost means another
  // caller's update of this AOR went through, so this ends.
  while (try_update(aor, edit, done, reply_loop) == Attempt::kRaced) {
  }
}

SqliteLocationStore::Attempt SqliteLocationStore::try_update(std::string_view aor, const BindingEditor& edit,
                                                             UpdateDone& done, EventLoop* reply_loop) {
  const int64_t now = unix_now();
  SharedBindings stored;
  uint64_t version = 0;
  bool stopped = false;
  {
    std::lock_guard lock(mutex_);
    stored = index_.stored(aor);
    version = index_.version_of(aor);
    stopped = stopped_;
  }
  const SharedBindings before = BindingIndex::unexpired_of(stored, now);
  if (stopped) {
    done(StoreStatus::kUnavailable, *before);
    return Attempt::kDone;
  }
  BindingList after = *before;  // the one copy a change needs: the editor's
  bool changed = false;
  try {
    changed = edit(after);
  } catch (const std::exception& e) {
    logger_.error("location store: the editor of ", aor, " failed: ", e.what());
    done(StoreStatus::kError, *before);
    return Attempt::kDone;
  }
  if (!changed) return confirm_unchanged(aor, version, before, done, reply_loop);
  drop_expired(after, now);  // an edit may expire bindings (expires=0): they are removals
  sort_for_lookup(after);
  if (has_duplicate_contacts(after)) {
    logger_.error("location store: the editor of ", aor, " listed a contact twice; nothing written");
    done(StoreStatus::kError, *before);
    return Attempt::kDone;
  }
  // Against the stored list: a binding that expired since the last sweep is
  // not in `before`, but its row is in the file and must go with this write.
  PendingWrite write = describe_change(aor, *stored, std::move(after));
  write.reply_loop = reply_loop;
  {
    std::lock_guard lock(mutex_);
    // The diff is only right against the list it was made from: the same
    // version (every change of an AOR's list stores a new one).
    if (index_.version_of(aor) != version) return Attempt::kRaced;
    if (!stopped_) {
      index_.replace(aor, *write.bindings);
      write.done = std::move(done);
      enqueue_locked(std::move(write));
      return Attempt::kDone;
    }
  }
  done(StoreStatus::kUnavailable, *before);  // stop() came while the editor ran
  return Attempt::kDone;
}

SqliteLocationStore::Attempt SqliteLocationStore::confirm_unchanged(std::string_view aor, uint64_t version,
                                                                    SharedBindings current, UpdateDone& done,
                                                                    EventLoop* reply_loop) {
  {
    std::lock_guard lock(mutex_);
    if (index_.version_of(aor) != version) return Attempt::kRaced;  // edited against a list already replaced
    if (writes_in_flight_ > 0) {
      // The edit may have found nothing to do because a write still in flight
      // already did it (a retransmitted REGISTER): its answer must wait until that
      // write is durable, or a 200 could confirm a binding a crash then loses.
      PendingWrite barrier;
      barrier.kind = PendingWrite::Kind::kBarrier;
      barrier.aor = std::string(aor);
      barrier.bindings = std::move(current);
      barrier.done = std::move(done);
      barrier.reply_loop = reply_loop;
      enqueue_locked(std::move(barrier));
      return Attempt::kDone;
    }
  }
  done(StoreStatus::kOk, *current);  // nothing pending: memory is what the file holds
  return Attempt::kDone;
}

void SqliteLocationStore::lookup(std::string_view aor, LookupDone done) {
  SharedBindings bindings;
  {
    std::lock_guard lock(mutex_);
    bindings = index_.unexpired(aor, unix_now());
  }
  done(StoreStatus::kOk, *bindings);
}

void SqliteLocationStore::list_aors(std::string_view domain, ListDone done) {
  std::vector<std::string> aors;
  {
    std::lock_guard lock(mutex_);
    aors = index_.aors_in_domain(domain, unix_now());
  }
  done(StoreStatus::kOk, aors);
}

void SqliteLocationStore::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;  // no caller queues a write after this: finish() below writes them all
  }
  sweep_timer_.reset();
  writer_->finish();
  // How well writes were grouped: one fsync per transaction.
  logger_.info("location store ", path_, ": ", writer_->committed_writes(), " writes in ",
               writer_->committed_transactions(), " transactions, ", writer_->failed_transactions(),
               " failed");
}

void SqliteLocationStore::enqueue_locked(PendingWrite write) {
  ++writes_in_flight_;
  if (write.kind != PendingWrite::Kind::kSweep) ++writes_in_flight_by_aor_[write.aor];
  writer_->enqueue(std::move(write));
}

void SqliteLocationStore::sweep() {
  {
    std::lock_guard lock(mutex_);
    queue_expired_at_load_locked();
  }
  if (sweeping_) return;  // the last pass is still going: a huge index on a short interval
  sweeping_ = true;
  sweep_slice();
}

void SqliteLocationStore::sweep_slice() {
  const int64_t now = unix_now();
  PendingWrite sweep;
  sweep.kind = PendingWrite::Kind::kSweep;
  sweep.expired_cutoff = now;
  BindingIndex::SweepSlice slice;
  std::vector<ExpiredContact> logged;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      sweeping_ = false;
      return;
    }
    // A pass over every binding at once stalled the loop (86 ms at a million):
    // a slice of bounded work per loop turn instead, the rest posted behind the
    // requests that came meanwhile. The other loops' callers wait for the
    // mutex as long as a slice takes.
    slice = index_.remove_expired(now, kSweepSliceWork, sweep_cursor_, sweep.expired);
    // Queued under the lock, like every write: once stop() set stopped_ the
    // writer refuses writes, and a refused one would stay counted in flight.
    if (!sweep.expired.empty()) {
      if (logger_.enabled(LogLevel::kInfo)) logged = sweep.expired;  // a slice's few: logged unlocked
      enqueue_locked(std::move(sweep));
    }
  }
  if (slice.pass_complete)
    sweeping_ = false;
  else
    loop_.post([this, alive = alive_] {
      if (*alive) sweep_slice();
    });
  // The rows go by key: the table has no expiry index, which would cost every
  // refresh two more B-tree updates. A row whose delete is lost with a failed
  // batch stays in the file, harmless (loading skips expired rows), until the
  // next start. The registrar logs what REGISTERs add and remove; what nobody
  // refreshed ends here.
  for (const ExpiredContact& gone : logged)
    logger_.info("registration expired aor=", log_safe(gone.aor), " contact=<", log_safe(gone.contact), ">");
}

// The rows that expired while homesipd was down go in writes of their own,
// one at a time: the next is queued once the last is committed, so however
// many there are, no transaction carries more than one write of them and the
// REGISTERs sharing it wait little. Deleted only if still expired at the
// load's time: a REGISTER since then rewrote the row with a later expiry.
void SqliteLocationStore::queue_expired_at_load_locked() {
  if (stopped_ || expired_at_load_queued_ || expired_at_load_.empty()) return;
  PendingWrite purge;
  purge.kind = PendingWrite::Kind::kSweep;
  purge.expired_at_load = true;
  purge.expired_cutoff = loaded_at_;
  purge.expired = expired_at_load_.take(kExpiredAtLoadPerWrite);  // in key order: neighbours in the file
  expired_at_load_queued_ = true;
  enqueue_locked(std::move(purge));
}

void SqliteLocationStore::post_confirmations(WrittenBatch batch) {
  // Here on the writer thread, before any caller hears of the batch: the
  // store is alive (stopping it joins this thread) and a find after `done`
  // sees what the batch changed.
  on_batch_written(batch);
  // Straight to each caller's loop, one task per loop and batch: through the
  // store's loop, another loop's confirmations cost a second hop (a task and
  // a wake-up) and a copy of each list, and waited for that loop's turn.
  std::vector<EventLoop*> loops;
  for (PendingWrite& write : batch.writes) {
    if (!write.done && !write.user_done) continue;  // a sweep's: nobody waits
    if (!write.reply_loop) write.reply_loop = &loop_;
    if (std::find(loops.begin(), loops.end(), write.reply_loop) == loops.end())
      loops.push_back(write.reply_loop);
  }
  // std::function needs a copyable task; share the batch instead of copying it.
  auto written = std::make_shared<WrittenBatch>(std::move(batch));
  for (EventLoop* loop : loops) loop->post([written, loop] { deliver_confirmations(*written, loop); });
}

void SqliteLocationStore::on_batch_written(const WrittenBatch& batch) {
  if (batch.outcome.committed)
    for (const PendingWrite& write : batch.writes)
      if (write.kind == PendingWrite::Kind::kUser) users_.set(write.aor, write.user);
  {
    std::lock_guard lock(mutex_);
    count_confirmed_locked(batch);
    if (!batch.outcome.committed) restore_from_file_locked(batch.outcome);
    continue_expired_at_load_locked(batch);
  }
  report_health(batch.outcome);
}

void SqliteLocationStore::continue_expired_at_load_locked(const WrittenBatch& batch) {
  const bool carried_them = std::any_of(batch.writes.begin(), batch.writes.end(),
                                        [](const PendingWrite& write) { return write.expired_at_load; });
  if (!carried_them) return;
  expired_at_load_queued_ = false;
  // After a failure its rows stay in the file (harmless: the next start skips
  // them again) and the rest waits for the next sweep, not a retry per batch.
  if (batch.outcome.committed) queue_expired_at_load_locked();
}

void SqliteLocationStore::count_confirmed_locked(const WrittenBatch& batch) {
  for (const PendingWrite& write : batch.writes) {
    if (write.kind == PendingWrite::Kind::kUser) continue;
    --writes_in_flight_;
    if (write.kind == PendingWrite::Kind::kSweep) continue;
    const auto counted = writes_in_flight_by_aor_.find(write.aor);
    if (--counted->second == 0) writes_in_flight_by_aor_.erase(counted);
  }
}

void SqliteLocationStore::restore_from_file_locked(const BatchOutcome& outcome) {
  const int64_t now = unix_now();
  for (const auto& [aor, stored] : outcome.stored_after_failure) {
    // A later write of this AOR is still queued: it carries the AOR's whole
    // list and the writer stores it whole, so memory already is what the file
    // will hold -- or that write fails too and comes back here.
    if (writes_in_flight_by_aor_.contains(aor)) continue;
    BindingList bindings = stored.value_or(BindingList{});
    drop_expired(bindings, now);
    index_.replace(aor, std::move(bindings));
  }
}

void SqliteLocationStore::report_health(const BatchOutcome& outcome) {
  if (outcome.committed == !writes_failing_) return;  // no change of state: already logged
  writes_failing_ = !outcome.committed;
  if (writes_failing_)
    logger_.error("location store ", path_, ": writing failed (", outcome.error,
                  "); updates are answered as unavailable until a write succeeds");
  else if (outcome.recovered.empty())
    logger_.info("location store ", path_, ": writing works again");
  else
    logger_.info("location store ", path_, ": writing works again (", outcome.recovered, ")");
}

}  // namespace homesip::location_sqlite
