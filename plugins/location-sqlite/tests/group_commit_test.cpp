// Group commit (SqliteWriter::gather): while updates keep coming they share a
// transaction for up to the commit window; after a quiet spell, a full batch
// or at stop nothing waits. The assertions count transactions; the windows
// are long (a second and more) so that a slow, shared machine cannot turn a
// wait the writer should not make into one it happened to make.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

using namespace std::chrono_literals;

class GroupCommitTest : public StoreTest {
 protected:
  static SqliteLocationStoreOptions with_window(std::chrono::microseconds window, size_t max_batch = 1024) {
    SqliteLocationStoreOptions options;
    options.commit_window = window;
    options.max_batch = max_batch;
    options.commit_batch = max_batch;  // only the window or a full batch ends the wait
    return options;
  }

  // Opens the store and commits one update: the writes that follow within
  // the window keep coming, which is when gather() waits for company.
  void open_after_a_write(SqliteLocationStoreOptions options) {
    open(options);
    ASSERT_EQ(update("warm-up@home.test", put(make_binding("sip:w@192.0.2.1", 3600))).status,
              StoreStatus::kOk);
  }

  std::vector<std::shared_ptr<UpdateOutcome>> submit_burst(int count, const std::string& prefix) {
    std::vector<std::shared_ptr<UpdateOutcome>> outcomes;
    for (int i = 0; i < count; ++i)
      outcomes.push_back(submit(*store_, prefix + std::to_string(i) + "@home.test",
                                put(make_binding("sip:a@192.0.2.1", 3600))));
    return outcomes;
  }

  static bool all_called(const std::vector<std::shared_ptr<UpdateOutcome>>& outcomes) {
    for (const auto& outcome : outcomes)
      if (!outcome->called) return false;
    return true;
  }

  // Submits an update and, 300 ms later, another: the first must have been
  // committed on its own by then, and the second in a transaction of its own.
  void expect_committed_alone_before_a_later_write() {
    const uint64_t transactions_before = store_->committed_transactions();
    auto first = submit(*store_, "first@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
    std::shared_ptr<UpdateOutcome> second;
    bool first_done_before_second = false;
    uint64_t transactions_at_second = 0;
    const auto later = loop_->start_timer(300ms, false, [&] {
      first_done_before_second = first->called;
      transactions_at_second = store_->committed_transactions() - transactions_before;
      second = submit(*store_, "second@home.test", put(make_binding("sip:b@192.0.2.2", 3600)));
    });
    ASSERT_TRUE(run_until([&] { return second && second->called; }, 20s));
    EXPECT_TRUE(first_done_before_second);
    EXPECT_EQ(transactions_at_second, 1u);
    EXPECT_EQ(first->status, StoreStatus::kOk);
    EXPECT_EQ(second->status, StoreStatus::kOk);
    EXPECT_EQ(store_->committed_transactions() - transactions_before, 2u);
  }

  static void expect_all_ok(const std::vector<std::shared_ptr<UpdateOutcome>>& outcomes) {
    for (const auto& outcome : outcomes) EXPECT_EQ(outcome->status, StoreStatus::kOk);
  }
};

// The burst follows a write within the window (writes keep coming), so its
// first update waits and the other 199 join it.
TEST_F(GroupCommitTest, BurstWithinTheWindowIsOneTransaction) {
  open_after_a_write(with_window(2s));
  const uint64_t transactions_before = store_->committed_transactions();
  const uint64_t writes_before = store_->committed_writes();
  const auto outcomes = submit_burst(200, "u");
  ASSERT_TRUE(run_until([&] { return all_called(outcomes); }, 20s));
  expect_all_ok(outcomes);
  EXPECT_EQ(store_->committed_transactions() - transactions_before, 1u);
  EXPECT_EQ(store_->committed_writes() - writes_before, 200u);
  EXPECT_EQ(OutsideConnection(path_).row_count(), 201);  // and the warm-up's
}

// After a quiet spell longer than the window a single update is committed at
// once: had it waited the window, the update sent 300 ms after it would have
// joined its transaction.
TEST_F(GroupCommitTest, SingleWriteAfterAQuietSpellCommitsAtOnce) {
  open(with_window(1s));
  ASSERT_EQ(update("earlier@home.test", put(make_binding("sip:e@192.0.2.1", 3600))).status, StoreStatus::kOk);
  std::this_thread::sleep_for(1100ms);  // longer than the window since that write
  expect_committed_alone_before_a_later_write();
}
// Writes one at a time, each after the last one's confirmation (a phone, a
// probe): a wait finds no company. Two such waits, then they go at once; a
// writer that kept waiting would hold every other one for the window (10
// updates: 5 windows, 10 s).
TEST_F(GroupCommitTest, WritesThatComeOneAtATimeStopWaitingForCompany) {
  open_after_a_write(with_window(2s));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(
        update("alone" + std::to_string(i) + "@home.test", put(make_binding("sip:a@192.0.2.1", 3600))).status,
        StoreStatus::kOk);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 3900ms);  // the two waits
  EXPECT_LT(elapsed, 7s);
}

// A batch that reaches max_batch goes at once: with a minute's window the
// 30 updates are confirmed in three transactions long before it ends.
TEST_F(GroupCommitTest, FullBatchDoesNotWaitForTheWindow) {
  open_after_a_write(with_window(60s, 10));
  const uint64_t transactions_before = store_->committed_transactions();
  const auto outcomes = submit_burst(30, "u");
  ASSERT_TRUE(run_until([&] { return all_called(outcomes); }, 20s));
  expect_all_ok(outcomes);
  EXPECT_EQ(store_->committed_transactions() - transactions_before, 3u);
}

// Gathering ends once commit_batch updates are queued: with a minute's window
// a burst of 8 (after another write, so writes keep coming) is confirmed
// at once, in one transaction, and the 9th waits for company of its own.
TEST_F(GroupCommitTest, GatheringEndsAtTheCommitBatch) {
  SqliteLocationStoreOptions options = with_window(60s);
  options.commit_batch = 8;
  open_after_a_write(options);
  const uint64_t transactions_before = store_->committed_transactions();
  const auto started = std::chrono::steady_clock::now();
  const auto outcomes = submit_burst(8, "u");
  ASSERT_TRUE(run_until([&] { return all_called(outcomes); }, 20s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  expect_all_ok(outcomes);
  EXPECT_EQ(store_->committed_transactions() - transactions_before, 1u);
  EXPECT_EQ(OutsideConnection(path_).row_count(), 9);  // and the warm-up's
  const auto ninth = submit(*store_, "u8@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(ninth->called) << "alone within the window, it waits for others";
  store_->stop();
  ASSERT_TRUE(run_until([&] { return ninth->called; }));
  EXPECT_EQ(ninth->status, StoreStatus::kOk);
}

// stop() writes what the writer is holding back instead of waiting the window out.
TEST_F(GroupCommitTest, StopDoesNotWaitOutTheWindow) {
  open_after_a_write(with_window(60s));
  const uint64_t transactions_before = store_->committed_transactions();
  const auto outcomes = submit_burst(5, "u");
  std::this_thread::sleep_for(100ms);  // the writer is gathering now
  EXPECT_EQ(store_->committed_transactions(), transactions_before);
  const auto started = std::chrono::steady_clock::now();
  store_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  EXPECT_EQ(store_->committed_transactions() - transactions_before, 1u);
  EXPECT_EQ(OutsideConnection(path_).row_count(), 6);  // and the warm-up's
  ASSERT_TRUE(run_until([&] { return all_called(outcomes); }));
  expect_all_ok(outcomes);
}

// Without a window nothing waits, even right after another write, which a
// window of a second would have held back.
TEST_F(GroupCommitTest, ZeroWindowNeverWaits) {
  open_after_a_write(with_window(0us));
  expect_committed_alone_before_a_later_write();
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
