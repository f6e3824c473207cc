#include "sqlite_writer.hpp"

#include <pthread.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "homesip/loop.hpp"
#include "user_rows.hpp"

namespace homesip::location_sqlite {
namespace {

bool same_row(const Binding& a, const Binding& b) {
  return a.contact == b.contact && a.expires_at == b.expires_at && a.q_millis == b.q_millis &&
         a.call_id == b.call_id && a.cseq == b.cseq && a.source == b.source && a.instance == b.instance &&
         a.user_agent == b.user_agent;
}

// Up to this many contacts per list, scanning beats building a hash table:
// nearly every AOR has one or two.
constexpr size_t kLinearScanLimit = 8;

// Finds a list's bindings by contact: by scanning short lists, through a
// hash table built once for long ones, so comparing two lists is linear.
class ContactLookup {
 public:
  explicit ContactLookup(const BindingList& bindings) : bindings_(bindings) {
    if (bindings.size() <= kLinearScanLimit) return;
    by_contact_.reserve(bindings.size());
    for (const Binding& binding : bindings) by_contact_.emplace(binding.contact, &binding);
  }

  const Binding* find(std::string_view contact) const {
    if (bindings_.size() <= kLinearScanLimit) {
      for (const Binding& binding : bindings_)
        if (binding.contact == contact) return &binding;
      return nullptr;
    }
    const auto found = by_contact_.find(contact);
    return found == by_contact_.end() ? nullptr : found->second;
  }

 private:
  const BindingList& bindings_;
  std::unordered_map<std::string_view, const Binding*> by_contact_;
};

}  // namespace

PendingWrite describe_change(std::string_view aor, const BindingList& before, BindingList after) {
  PendingWrite write;
  write.kind = PendingWrite::Kind::kChange;
  write.aor = std::string(aor);
  const ContactLookup in_before(before);
  const ContactLookup in_after(after);
  for (const Binding& old : before)
    if (!in_after.find(old.contact)) write.removed_contacts.push_back(old.contact);
  for (size_t i = 0; i < after.size(); ++i) {
    const Binding* old = in_before.find(after[i].contact);
    if (!old || !same_row(*old, after[i])) write.upserted.push_back(static_cast<uint32_t>(i));
  }
  write.bindings = std::make_shared<const BindingList>(std::move(after));
  return write;
}

SqliteWriter::SqliteWriter(GuardedDatabase database, size_t max_batch,
                           std::chrono::milliseconds retry_interval, std::chrono::microseconds commit_window,
                           size_t commit_batch, BatchWritten on_written)
    : database_(std::move(database)),
      max_batch_(std::max<size_t>(max_batch, 1)),
      retry_interval_(retry_interval),
      commit_window_(std::max(commit_window, std::chrono::microseconds::zero())),
      commit_batch_(std::clamp<size_t>(commit_batch, 1, max_batch_)),
      on_written_(std::move(on_written)),
      thread_([this] { run(); }) {
  pthread_setname_np(thread_.native_handle(), "sqlite-writer");  // for top -H and perf
}

SqliteWriter::~SqliteWriter() { finish(); }

bool SqliteWriter::enqueue(PendingWrite write) {
  const auto now = std::chrono::steady_clock::now();
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (finishing_) return false;
    queue_.push_back(std::move(write));
    if (queue_.size() == 1) {
      oldest_queued_at_ = now;
      // A sweep's deletes answer nobody, and the purges of rows expired at
      // load come one after another (each queued once the last committed):
      // held back for company, each would wait the whole window.
      writes_keep_coming_ = commit_window_.count() > 0 && now - last_queued_at_ <= commit_window_ &&
                            queue_.front().kind != PendingWrite::Kind::kSweep;
    }
    last_queued_at_ = now;
    wake = idle_ || (gathering_ && queue_.size() == commit_batch_);
    idle_ = false;
  }
  // While the writer is busy (mostly in fsync) or gathering a batch it takes
  // the queue when done; waking it per update would cost a futex call and a
  // context switch each.
  if (wake) wake_.notify_one();
  return true;
}

void SqliteWriter::finish() {
  {
    std::lock_guard lock(mutex_);
    finishing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SqliteWriter::run() {
  for (;;) {
    std::vector<PendingWrite> writes = take_batch();
    if (writes.empty()) return;  // finishing, and nothing left
    BatchOutcome outcome = write_batch(writes);
    on_written_(WrittenBatch{std::move(writes), std::move(outcome)});
  }
}

std::vector<PendingWrite> SqliteWriter::take_batch() {
  std::unique_lock lock(mutex_);
  while (queue_.empty() && !finishing_) wait_for_work(lock);
  idle_ = false;
  gather(lock);
  const size_t count = std::min(queue_.size(), max_batch_);
  std::vector<PendingWrite> writes;
  writes.reserve(count);
  std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count), std::back_inserter(writes));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
  return writes;
}

// Holds the batch back until the oldest write has waited the commit window,
// `commit_batch` writes are queued, or the store stops. Why these rules:
// - The window counts from the oldest write's arrival, not from now: writes
//   that queued while the previous transaction ran have waited already, so
//   under load (the queue never empty after a commit) nothing waits more.
// - Only while writes keep coming (the oldest came within a window of the
//   write before it): at a low rate no second write would arrive in time, and
//   waiting would only delay the 200 OK.
// - Gathering ends at `commit_batch` writes: the transaction's fixed cost
//   (two writer wake-ups, the commit and its fsync, the file checks, one loop
//   wake-up for the confirmations) is then shared enough, and waiting longer
//   would only delay the 200s. So the window adapts to the rate: at 8000
//   REGISTERs/s a batch of 256 is in after 32 ms; at 2000/s the window
//   (64 ms) ends it with 128. 256 and 64 ms rather than 64 and 32 ms took
//   about a quarter off homesipd's CPU per refresh at 2000/s and 8000/s
//   (docs/benchmarks.md, "Group commit and coalescing defaults").
// - A wait that ends with the write still alone saved nothing: its writes
//   come one at a time, each after the answer to the one before (a phone
//   registering, a probe, a chain of servers). After two such waits in a
//   row, writes go at once for kQuietWindows windows, then waiting is tried
//   again; otherwise that sender would get every other 200 a window late.
// A 200 waits at most the window (64 ms by default) longer than it would
// without grouping: little next to SIP's 500 ms retransmission timer.
void SqliteWriter::gather(std::unique_lock<std::mutex>& lock) {
  if (!writes_keep_coming_ || std::chrono::steady_clock::now() < quiet_until_) return;
  const auto deadline = oldest_queued_at_ + commit_window_;
  gathering_ = true;
  while (!finishing_ && queue_.size() < commit_batch_)
    if (wake_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  gathering_ = false;
  lean_gathers_ = queue_.size() < 2 ? lean_gathers_ + 1 : 0;
  if (lean_gathers_ >= kLeanGathersBeforeQuiet) {
    lean_gathers_ = 0;
    quiet_until_ = std::chrono::steady_clock::now() + commit_window_ * kQuietWindows;
  }
}

void SqliteWriter::wait_for_work(std::unique_lock<std::mutex>& lock) {
  idle_ = true;
  if (!database_.broken()) {
    wake_.wait(lock);
    return;
  }
  if (wake_.wait_for(lock, retry_interval_) == std::cv_status::no_timeout) return;
  // Recovery opens and may fill a file: enqueue must not wait for that.
  lock.unlock();
  database_.recover();
  lock.lock();
}

BatchOutcome SqliteWriter::write_batch(const std::vector<PendingWrite>& writes) {
  BatchOutcome outcome;
  BindingsDatabase* database = nullptr;
  try {
    database = &database_.for_writing();
    database->begin();
    for (const PendingWrite& write : writes) apply(*database, write);
    database->commit();
    outcome.committed = true;
    outcome.recovered = database_.take_recovery_note();
    ++committed_;
    committed_writes_ += writes.size();
  } catch (const std::exception& e) {
    if (database) database->rollback_if_open();
    ++failed_;
    outcome.error = e.what();
    distrust_and_reload(writes, outcome);
  }
  return outcome;
}

void SqliteWriter::apply(BindingsDatabase& database, const PendingWrite& write) {
  switch (write.kind) {
    case PendingWrite::Kind::kSweep:
      for (const ExpiredContact& gone : write.expired)
        database.remove_contact_if_expired(gone.aor, gone.contact, write.expired_cutoff);
      return;
    case PendingWrite::Kind::kBarrier:
      // The edit that found nothing to change saw the lost changes as done:
      // making them durable now is what lets it be confirmed.
      if (distrusted_aors_.contains(write.aor)) replace_rows(database, write);
      return;
    case PendingWrite::Kind::kUser:
      // All of the user's rows every time: right whatever an earlier failure left.
      write_user_rows(database.handle(), write.aor, write.user.get());
      return;
    case PendingWrite::Kind::kChange:
      if (distrusted_aors_.contains(write.aor)) {
        replace_rows(database, write);
        return;
      }
      for (const std::string& contact : write.removed_contacts) database.remove_contact(write.aor, contact);
      for (const uint32_t position : write.upserted) database.upsert(write.aor, (*write.bindings)[position]);
      return;
  }
}

void SqliteWriter::replace_rows(BindingsDatabase& database, const PendingWrite& write) {
  database.remove_aor(write.aor);
  for (const Binding& binding : *write.bindings) database.upsert(write.aor, binding);
  // Should this batch fail after all, distrust_and_reload marks it again.
  distrusted_aors_.erase(write.aor);
}

void SqliteWriter::distrust_and_reload(const std::vector<PendingWrite>& writes, BatchOutcome& outcome) {
  const int64_t now = unix_now();
  for (const PendingWrite& write : writes) {
    if (write.kind == PendingWrite::Kind::kSweep || write.kind == PendingWrite::Kind::kUser) continue;
    distrusted_aors_.insert(write.aor);
    if (outcome.stored_after_failure.contains(write.aor)) continue;
    std::optional<BindingList> stored;
    try {
      stored = database_.unexpired_of(write.aor, now);
      sort_for_lookup(*stored);
    } catch (const std::exception&) {
      stored.reset();  // the loop thread then forgets the AOR rather than claim what may be lost
    }
    outcome.stored_after_failure.emplace(write.aor, std::move(stored));
  }
}

}  // namespace homesip::location_sqlite
