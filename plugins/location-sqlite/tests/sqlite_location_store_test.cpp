// The SQLite store's own promises, beyond the conformance suite: what is on
// disk and when, what happens when the file cannot be written, and batching.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bindings_database.hpp"
#include "homesip/testkit/store_harness.hpp"
#include "schema.hpp"
#include "sqlite_statement.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

using namespace std::chrono_literals;

// A row as homesipd writes it, expiring at `expires_at`.
void insert_row(OutsideConnection& file, const std::string& aor, const std::string& contact,
                int64_t expires_at) {
  file.execute("INSERT INTO bindings VALUES ('" + aor + "', '" + contact + "', " +
               std::to_string(expires_at) + ", 1000, 'c1', 1, '', '', '')");
}

struct Row {
  std::string aor, contact;
  int64_t expires_at;
};

class SqliteLocationStoreTest : public StoreTest {
 protected:
  // The file made by a store, then `rows` written into it while no store runs.
  void write_while_stopped(const std::vector<Row>& rows) {
    open();
    close();
    OutsideConnection file(path_);
    for (const Row& row : rows) insert_row(file, row.aor, row.contact, row.expires_at);
  }
};

using homesip::testkit::expect_same_binding;

TEST_F(SqliteLocationStoreTest, CreatesTheSchemaInWalMode) {
  open();
  OutsideConnection file(path_);
  EXPECT_EQ(file.query_text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(file.query_integer("SELECT version FROM schema_version"), current_location_schema_version());
  EXPECT_EQ(file.query_integer("SELECT COUNT(*) FROM pragma_table_info('bindings') WHERE name IN "
                               "('aor', 'contact', 'expires_at', 'q_millis', 'call_id', 'cseq', 'source', "
                               "'instance', 'user_agent')"),
            9);
  // No expiry index (schema version 2): a refresh must not pay for one.
  EXPECT_EQ(file.query_integer("SELECT COUNT(*) FROM pragma_index_list('bindings') i JOIN "
                               "pragma_index_info(i.name) c WHERE c.name = 'expires_at'"),
            0);
}

// The writer's connection keeps 16 MiB of pages: SQLite's default 2 MiB holds
// about 19 000 bindings, past which every commit re-read pages from the OS.
// (cache_size is per connection: only the connection itself can tell it.)
TEST_F(SqliteLocationStoreTest, WriterConnectionCachesSixteenMebibytesOfPages) {
  BindingsDatabase database(path_, SynchronousMode::kFull, 1000ms);
  Statement cache_size(database.handle(), "PRAGMA cache_size");
  ASSERT_TRUE(cache_size.next_row());
  EXPECT_EQ(cache_size.integer(0), -16384);  // negative: KiB, not pages
}

// Operators tell it from the loops in top -H; so does perf.
TEST_F(SqliteLocationStoreTest, TheWriterThreadIsNamed) {
  open();
  std::vector<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.push_back(name);
  }
  EXPECT_EQ(std::count(names.begin(), names.end(), "sqlite-writer"), 1);
}

TEST_F(SqliteLocationStoreTest, UpdateIsConfirmedOnlyOnceCommitted) {
  open();
  // Callbacks capture shared state: one arriving after a failed assertion
  // (while the fixture closes the store) must not touch a finished stack.
  auto file = std::make_shared<OutsideConnection>(path_);
  auto rows_when_confirmed = std::make_shared<int64_t>(-1);
  store_->update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)),
                 [file, rows_when_confirmed](StoreStatus status, const BindingList&) {
                   EXPECT_EQ(status, StoreStatus::kOk);
                   *rows_when_confirmed = file->row_count();
                 });
  ASSERT_TRUE(run_until([&] { return *rows_when_confirmed >= 0; }));
  EXPECT_EQ(*rows_when_confirmed, 1);
}

TEST_F(SqliteLocationStoreTest, ConfirmedBindingSurvivesReopening) {
  open();
  const Binding binding = make_binding("sip:a@192.0.2.1", 3600, 300);
  ASSERT_EQ(update("u1@home.test", put(binding)).status, StoreStatus::kOk);
  close();

  open();
  const BindingList found = lookup("u1@home.test");
  ASSERT_EQ(found.size(), 1u);
  expect_same_binding(found[0], binding);
}

TEST_F(SqliteLocationStoreTest, RefreshWritesTheNewExpiryAndCSeq) {
  open();
  Binding binding = make_binding("sip:a@192.0.2.1", 600);
  ASSERT_EQ(update("u1@home.test", put(binding)).status, StoreStatus::kOk);
  binding.expires_at += 1000;
  binding.cseq += 1;
  ASSERT_EQ(update("u1@home.test", put(binding)).status, StoreStatus::kOk);
  OutsideConnection file(path_);
  EXPECT_EQ(file.query_integer("SELECT expires_at FROM bindings"), binding.expires_at);
  EXPECT_EQ(file.query_integer("SELECT cseq FROM bindings"), binding.cseq);
  EXPECT_EQ(file.row_count(), 1);
}

TEST_F(SqliteLocationStoreTest, RefreshOfARowMissingFromTheFileWritesItWhole) {
  open();
  Binding binding = make_binding("sip:a@192.0.2.1", 600);
  ASSERT_EQ(update("u1@home.test", put(binding)).status, StoreStatus::kOk);
  OutsideConnection(path_).execute("DELETE FROM bindings");
  binding.expires_at += 1000;
  binding.cseq += 1;
  ASSERT_EQ(update("u1@home.test", put(binding)).status, StoreStatus::kOk);
  close();
  open();
  const BindingList found = lookup("u1@home.test");
  ASSERT_EQ(found.size(), 1u);
  expect_same_binding(found[0], binding);
}

TEST_F(SqliteLocationStoreTest, LoadsOnlyUnexpiredRows) {
  const int64_t now = unix_now();
  write_while_stopped({{"u1@home.test", "sip:old@192.0.2.1", now - 5},
                       {"u1@home.test", "sip:new@192.0.2.2", now + 600},
                       {"u2@home.test", "sip:old@192.0.2.3", now - 5}});
  open();
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{"sip:new@192.0.2.2"});
  EXPECT_TRUE(lookup("u2@home.test").empty());
}

// Rows that expired while homesipd was down are not purged before the first
// REGISTER can be written (a scan of the whole file held it 0.1 to 0.3 s at a
// million rows): they are never loaded, so never served, and the first sweep
// deletes them.
TEST_F(SqliteLocationStoreTest, RowsThatExpiredWhileStoppedAreNeverServedAndTheFirstSweepDeletesThem) {
  const int64_t now = unix_now();
  write_while_stopped({{"u1@home.test", "sip:old@192.0.2.1", now - 5},
                       {"u2@home.test", "sip:live@192.0.2.2", now + 600},
                       {"u2@home.test", "sip:old@192.0.2.3", now - 5}});
  SqliteLocationStoreOptions options;
  options.sweep_interval = 1s;
  open(options);
  EXPECT_EQ(store_->writes_in_flight(), 0u) << "nothing queued at start for a REGISTER to wait behind";
  OutsideConnection file(path_);
  EXPECT_EQ(file.row_count(), 3) << "deleted before the first sweep";
  EXPECT_TRUE(lookup("u1@home.test").empty());
  EXPECT_EQ(contacts_of(lookup("u2@home.test")), std::vector<std::string>{"sip:live@192.0.2.2"});
  std::vector<std::string> listed;
  store_->list_aors("home.test", [&](StoreStatus, const std::vector<std::string>& aors) { listed = aors; });
  EXPECT_EQ(listed, std::vector<std::string>{"u2@home.test"});

  EXPECT_TRUE(run_until([&] { return file.row_count() == 1; }, 5s)) << "the first sweep left expired rows";
  EXPECT_EQ(file.contacts_of("u2@home.test"), std::vector<std::string>{"sip:live@192.0.2.2"});
  EXPECT_TRUE(file.contacts_of("u1@home.test").empty());
}

// The first REGISTER after a start is a transaction of its own, with nothing
// of the rows that expired meanwhile in it.
TEST_F(SqliteLocationStoreTest, TheFirstRegisterAfterAStartWaitsForNoPurge) {
  write_while_stopped({{"u1@home.test", "sip:old@192.0.2.1", unix_now() - 5}});
  open();
  ASSERT_EQ(update("u2@home.test", put(make_binding("sip:a@192.0.2.2", 3600))).status, StoreStatus::kOk);
  EXPECT_EQ(store_->committed_transactions(), 1u);
  EXPECT_EQ(store_->committed_writes(), 1u) << "the REGISTER's transaction carried another write";
  EXPECT_EQ(OutsideConnection(path_).row_count(), 2) << "the expired row waits for the sweep";
}

// An expired row's contact registered again before the sweep came is the
// new binding: the sweep's delete (if still expired at the load's time)
// leaves it.
TEST_F(SqliteLocationStoreTest, AContactRegisteredAgainBeforeTheFirstSweepKeepsItsRow) {
  const int64_t now = unix_now();
  write_while_stopped(
      {{"u1@home.test", "sip:back@192.0.2.1", now - 5}, {"u2@home.test", "sip:gone@192.0.2.2", now - 5}});
  SqliteLocationStoreOptions options;
  options.sweep_interval = 1s;
  open(options);
  const Binding again = make_binding("sip:back@192.0.2.1", 3600);
  ASSERT_EQ(update("u1@home.test", put(again)).status, StoreStatus::kOk);
  OutsideConnection file(path_);
  ASSERT_TRUE(run_until([&] { return file.contacts_of("u2@home.test").empty(); }, 5s)) << "no sweep";
  EXPECT_EQ(file.contacts_of("u1@home.test"), std::vector<std::string>{"sip:back@192.0.2.1"});
  EXPECT_EQ(file.query_integer("SELECT expires_at FROM bindings WHERE aor = 'u1@home.test'"),
            again.expires_at);
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{"sip:back@192.0.2.1"});
}

// A file with `count` bindings that expired while homesipd was down (and
// one still live with `live_too`), as the next start finds it.
void write_rows_expired_while_stopped(const std::string& path, int count, bool live_too) {
  const int64_t now = unix_now();
  OutsideConnection file(path);
  file.execute("BEGIN");
  for (int i = 0; i < count; ++i)
    insert_row(file, "u" + std::to_string(i) + "@home.test", "sip:old@192.0.2.1", now - 5);
  if (live_too) insert_row(file, "live@home.test", "sip:live@192.0.2.2", now + 600);
  file.execute("COMMIT");
}

// However many rows expired while homesipd was down, they go in bounded
// writes, one transaction each (256 rows), never all in one.
TEST_F(SqliteLocationStoreTest, ManyRowsExpiredAtLoadAreDeletedAFewHundredPerTransaction) {
  open();
  close();
  write_rows_expired_while_stopped(path_, 1200, /*live_too=*/true);
  SqliteLocationStoreOptions options;
  options.sweep_interval = 1s;
  open(options);
  OutsideConnection file(path_);
  ASSERT_TRUE(run_until([&] { return file.row_count() == 1; }, 10s)) << file.row_count() << " rows left";
  EXPECT_TRUE(run_until([&] { return store_->writes_in_flight() == 0; }));
  EXPECT_EQ(store_->committed_transactions(), 5u) << "1200 rows: 4 x 256 + 176";
  EXPECT_EQ(store_->committed_writes(), 5u);
  EXPECT_EQ(file.contacts_of("live@home.test"), std::vector<std::string>{"sip:live@192.0.2.2"});
}

// The purges of rows expired at load go one after another, each within the
// commit window of the last: none is held back for company, or five of them
// would take four minutes' windows here.
TEST_F(SqliteLocationStoreTest, PurgesOfRowsExpiredAtLoadDoNotWaitForTheCommitWindow) {
  open();
  close();
  write_rows_expired_while_stopped(path_, 1200, /*live_too=*/false);
  SqliteLocationStoreOptions options;
  options.sweep_interval = 1s;
  options.commit_window = 60s;
  options.commit_batch = options.max_batch;  // only the window or a full batch would end a wait
  open(options);
  OutsideConnection file(path_);
  ASSERT_TRUE(run_until([&] { return file.row_count() == 0; }, 20s)) << file.row_count() << " rows left";
  EXPECT_EQ(store_->committed_transactions(), 5u) << "1200 rows: 4 x 256 + 176";
}

TEST_F(SqliteLocationStoreTest, AVersionOneFileIsMigratedKeepingItsBindings) {
  {
    // A file as homesip wrote it before schema version 2: with the expiry index.
    DatabaseHandle db = open_database(path_);
    migrate_schema(db.get(), location_schema_migrations().first(1));
  }
  const int64_t expires_at = unix_now() + 600;
  {
    OutsideConnection file(path_);
    ASSERT_EQ(file.query_integer("SELECT COUNT(*) FROM sqlite_master WHERE name = 'bindings_by_expiry'"), 1);
    file.execute("INSERT INTO bindings VALUES ('u1@home.test', 'sip:a@192.0.2.1', " +
                 std::to_string(expires_at) + ", 1000, 'c1', 7, 'udp:192.0.2.1:5060', '', 'phone')");
  }
  open();
  const BindingList found = lookup("u1@home.test");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].expires_at, expires_at);
  EXPECT_EQ(found[0].cseq, 7u);
  EXPECT_EQ(found[0].user_agent, "phone");
  OutsideConnection file(path_);
  EXPECT_EQ(file.query_integer("SELECT version FROM schema_version"), current_location_schema_version());
  EXPECT_EQ(file.query_integer("SELECT COUNT(*) FROM sqlite_master WHERE name = 'bindings_by_expiry'"), 0);
  EXPECT_EQ(file.query_integer("SELECT COUNT(*) FROM sqlite_master WHERE name = 'users'"), 1)
      << "version 3 adds the user store's tables";
}

TEST_F(SqliteLocationStoreTest, AnUpdateDeletesTheRowsOfBindingsThatExpiredBeforeIt) {
  open();  // the sweep (60 s) does not run during the test: the update must do it
  ASSERT_EQ(update("u1@home.test", put(make_binding("sip:old@192.0.2.1", 1))).status, StoreStatus::kOk);
  std::this_thread::sleep_for(1100ms);
  ASSERT_EQ(update("u1@home.test", put(make_binding("sip:new@192.0.2.2", 3600))).status, StoreStatus::kOk);
  EXPECT_EQ(OutsideConnection(path_).contacts_of("u1@home.test"),
            std::vector<std::string>{"sip:new@192.0.2.2"});
}

TEST_F(SqliteLocationStoreTest, SweepDeletesExpiredRowsFromTheFile) {
  SqliteLocationStoreOptions options;
  options.sweep_interval = 1s;
  open(options);
  update("u1@home.test", put(make_binding("sip:short@192.0.2.1", 1)));
  update("u2@home.test", put(make_binding("sip:long@192.0.2.2", 3600)));
  OutsideConnection file(path_);
  ASSERT_EQ(file.row_count(), 2);

  EXPECT_TRUE(run_until([&] { return file.row_count() == 1; }, 5s)) << "the sweep never deleted the row";
  EXPECT_EQ(file.contacts_of("u2@home.test"), std::vector<std::string>{"sip:long@192.0.2.2"});
  EXPECT_TRUE(lookup("u1@home.test").empty());
}

TEST_F(SqliteLocationStoreTest, UnchangedEditWaitsForEarlierWritesOfTheAor) {
  open();
  auto file = std::make_shared<OutsideConnection>(path_);
  auto order = std::make_shared<std::vector<std::string>>();
  auto rows_when_unchanged_confirmed = std::make_shared<int64_t>(-1);
  store_->update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)),
                 [order](StoreStatus, const BindingList&) { order->push_back("original"); });
  // The retransmission: the editor finds the binding there and changes nothing.
  store_->update(
      "u1@home.test", [](BindingList& bindings) { return bindings.size() != 1; },
      [file, order, rows_when_unchanged_confirmed](StoreStatus status, const BindingList& bindings) {
        EXPECT_EQ(status, StoreStatus::kOk);
        EXPECT_EQ(bindings.size(), 1u);
        order->push_back("retransmission");
        *rows_when_unchanged_confirmed = file->row_count();
      });
  EXPECT_TRUE(order->empty()) << "confirmed before the original write was committed";

  ASSERT_TRUE(run_until([&] { return order->size() == 2; }));
  EXPECT_EQ(*order, (std::vector<std::string>{"original", "retransmission"}));
  EXPECT_EQ(*rows_when_unchanged_confirmed, 1);
}

TEST_F(SqliteLocationStoreTest, UnchangedEditWithNothingPendingIsConfirmedAtOnce) {
  open();
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  ASSERT_EQ(store_->writes_in_flight(), 0u);
  auto outcome = submit(*store_, "u1@home.test", [](BindingList&) { return false; });
  EXPECT_TRUE(outcome->called);
  EXPECT_EQ(outcome->status, StoreStatus::kOk);
}

TEST_F(SqliteLocationStoreTest, EditorThatThrowsIsAnError) {
  open();
  const UpdateOutcome outcome =
      update("u1@home.test", [](BindingList&) -> bool { throw std::runtime_error("bug"); });
  EXPECT_EQ(outcome.status, StoreStatus::kError);
}

TEST_F(SqliteLocationStoreTest, DuplicateContactsAreAnError) {
  open();
  const UpdateOutcome outcome = update("u1@home.test", [](BindingList& bindings) {
    bindings.push_back(make_binding("sip:a@192.0.2.1", 3600));
    bindings.push_back(make_binding("sip:a@192.0.2.1", 600));
    return true;
  });
  EXPECT_EQ(outcome.status, StoreStatus::kError);
  EXPECT_TRUE(lookup("u1@home.test").empty());
}

// Another process holds the write lock longer than the busy timeout: the
// store must say so and not claim the binding.
TEST_F(SqliteLocationStoreTest, FailedWriteIsUnavailableAndMemoryFollowsTheFile) {
  SqliteLocationStoreOptions options;
  options.busy_timeout = 100ms;
  open(options);
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));

  OutsideConnection locker(path_);
  locker.execute("BEGIN EXCLUSIVE");
  const UpdateOutcome failed = update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600)));
  EXPECT_EQ(failed.status, StoreStatus::kUnavailable);
  EXPECT_EQ(contacts_of(failed.bindings), std::vector<std::string>{"sip:a@192.0.2.1"});
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{"sip:a@192.0.2.1"});
  EXPECT_EQ(update("u2@home.test", put(make_binding("sip:c@192.0.2.3", 3600))).status,
            StoreStatus::kUnavailable);
  EXPECT_TRUE(lookup("u2@home.test").empty());
  EXPECT_EQ(logger_.count(LogLevel::kError), 1u) << "one error per change of state, not per batch";
  EXPECT_EQ(store_->failed_transactions(), 2u);

  locker.execute("ROLLBACK");
  EXPECT_EQ(update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600))).status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(lookup("u1@home.test")),
            (std::vector<std::string>{"sip:a@192.0.2.1", "sip:b@192.0.2.2"}));
  const auto lines = logger_.lines();
  EXPECT_NE(lines.back().text.find("works again"), std::string::npos);

  close();
  open(options);
  EXPECT_EQ(contacts_of(lookup("u1@home.test")),
            (std::vector<std::string>{"sip:a@192.0.2.1", "sip:b@192.0.2.2"}));
}

TEST_F(SqliteLocationStoreTest, RetransmissionIsNotConfirmedWhenTheOriginalFails) {
  SqliteLocationStoreOptions options;
  options.busy_timeout = 100ms;
  open(options);
  OutsideConnection locker(path_);
  locker.execute("BEGIN EXCLUSIVE");

  auto original = submit(*store_, "u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  auto retransmission = submit(*store_, "u1@home.test", [](BindingList& b) { return b.empty(); });
  ASSERT_TRUE(run_until([&] { return original->called && retransmission->called; }));
  EXPECT_EQ(original->status, StoreStatus::kUnavailable);
  EXPECT_EQ(retransmission->status, StoreStatus::kUnavailable);
  EXPECT_TRUE(lookup("u1@home.test").empty());
}

// A write fails while a later edit of the same AOR -- computed on top of the
// lost change -- is already queued. When that later write succeeds, the file
// must hold the AOR's whole list as memory has it, not just the later diff.
TEST_F(SqliteLocationStoreTest, WriteAfterAFailedOneStoresTheWholeList) {
  SqliteLocationStoreOptions options;
  options.busy_timeout = 1000ms;  // the second write waits while the first is answered
  options.max_batch = 1;          // one update per transaction: the two cannot share a fate
  open(options);
  auto locker = std::make_shared<OutsideConnection>(path_);
  locker->execute("BEGIN EXCLUSIVE");

  auto first = std::make_shared<UpdateOutcome>();
  store_->update("u1@home.test", put(make_binding("sip:x@192.0.2.1", 3600)),
                 [locker, first](StoreStatus status, const BindingList&) {
                   first->called = true;
                   first->status = status;
                   locker->execute("ROLLBACK");  // the second write now gets the lock
                 });
  auto second = submit(*store_, "u1@home.test", put(make_binding("sip:y@192.0.2.2", 3600)));
  ASSERT_TRUE(run_until([&] { return first->called && second->called; }, 10s));
  EXPECT_EQ(first->status, StoreStatus::kUnavailable);
  ASSERT_EQ(second->status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(second->bindings), (std::vector<std::string>{"sip:x@192.0.2.1", "sip:y@192.0.2.2"}));

  EXPECT_EQ(contacts_of(lookup("u1@home.test")),
            (std::vector<std::string>{"sip:x@192.0.2.1", "sip:y@192.0.2.2"}));
  EXPECT_EQ(OutsideConnection(path_).contacts_of("u1@home.test"),
            (std::vector<std::string>{"sip:x@192.0.2.1", "sip:y@192.0.2.2"}));
}

TEST_F(SqliteLocationStoreTest, StopWritesEverythingQueued) {
  open();
  std::vector<std::shared_ptr<UpdateOutcome>> outcomes;
  for (int i = 0; i < 1000; ++i)
    outcomes.push_back(
        submit(*store_, "u" + std::to_string(i) + "@home.test", put(make_binding("sip:a@192.0.2.1", 3600))));
  store_->stop();
  EXPECT_EQ(OutsideConnection(path_).row_count(), 1000);

  ASSERT_TRUE(run_until([&] {
    return std::all_of(outcomes.begin(), outcomes.end(), [](const auto& outcome) { return outcome->called; });
  }));
  EXPECT_EQ(store_->writes_in_flight(), 0u);
  for (const auto& outcome : outcomes) {
    EXPECT_EQ(outcome->status, StoreStatus::kOk);
  }
  auto late = submit(*store_, "late@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  EXPECT_TRUE(late->called);
  EXPECT_EQ(late->status, StoreStatus::kUnavailable);
}

// Not a benchmark: it checks the mechanism that makes the store fast -- many
// updates share one transaction (and one fsync) -- rather than a time. While
// another connection holds the write lock, updates queue up; once it lets go
// they must go out in full batches, however fast this machine is.
TEST_F(SqliteLocationStoreTest, QueuedUpdatesShareTransactions) {
  SqliteLocationStoreOptions options;
  options.busy_timeout = 60s;  // the writer waits for the lock, it does not fail
  options.max_batch = 1024;
  open(options);
  const uint64_t transactions_before = store_->committed_transactions();
  OutsideConnection locker(path_);
  locker.execute("BEGIN EXCLUSIVE");
  constexpr int kUpdates = 20'000;
  auto confirmed = std::make_shared<int>(0);
  for (int i = 0; i < kUpdates; ++i)
    store_->update("u" + std::to_string(i % 5'000) + "@home.test",
                   put(make_binding("sip:" + std::to_string(i / 5'000) + "@192.0.2.1", 3600)),
                   [confirmed](StoreStatus status, const BindingList&) {
                     if (status == StoreStatus::kOk) ++*confirmed;
                   });
  EXPECT_EQ(*confirmed, 0);  // nothing is confirmed before it is durable
  locker.execute("ROLLBACK");
  ASSERT_TRUE(run_until([&] { return *confirmed == kUpdates; }, 60s)) << *confirmed << " confirmed";
  const uint64_t transactions = store_->committed_transactions() - transactions_before;
  RecordProperty("transactions", static_cast<int>(transactions));
  // The first transaction may have started before the lock was taken; every
  // later one carries a full batch.
  EXPECT_LE(transactions, 2u + kUpdates / options.max_batch) << transactions << " transactions";
  EXPECT_EQ(OutsideConnection(path_).row_count(), kUpdates);
}

TEST_F(SqliteLocationStoreTest, RefusesAFileFromANewerSchema) {
  open();
  close();
  OutsideConnection(path_).execute("UPDATE schema_version SET version = " +
                                   std::to_string(current_location_schema_version() + 1));
  try {
    open();
    FAIL() << "opened a file from a newer schema";
  } catch (const StoreOpenError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteLocationStoreTest, MissingDirectoryIsAnOpenError) {
  path_ = directory_.file("no/such/dir/location.sqlite");
  EXPECT_THROW(open(), StoreOpenError);
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
