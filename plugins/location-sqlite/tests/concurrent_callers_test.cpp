// `server.loops: N`: the store is called from N loop threads at once while
// its own (main) loop takes the writer's confirmations and runs the sweep.
// Eight threads, each with its own test-kit loop as "current loop", update,
// look up and list AORs of their own and AORs all of them share; afterwards
// memory and the file (reopened) must hold exactly what was written, and
// every update must have been confirmed once, on its caller's loop.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "homesip/testkit/manual_loop.hpp"
#include "sqlite_user_store.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kThreads = 8;
constexpr int kRounds = 1000;
constexpr int kOwnAors = 50;    // per thread: "t<k>-<n>@home.test"
constexpr int kSharedAors = 4;  // every thread writes its own contact into each

// The loop of the calling thread, as PluginContext::current_loop() tells it.
thread_local EventLoop* calling_loop = nullptr;

std::string own_aor(int thread, int round) {
  return "t" + std::to_string(thread) + "-" + std::to_string(round % kOwnAors) + "@home.test";
}
std::string own_contact(int round) { return "sip:c" + std::to_string(round) + "@192.0.2.1:5060"; }
std::string shared_aor(int round) { return "shared" + std::to_string(round % kSharedAors) + "@home.test"; }
std::string shared_contact(int thread) { return "sip:t" + std::to_string(thread) + "@192.0.2.2:5060"; }

Binding binding_of(const std::string& contact, int round) {
  Binding binding = make_binding(contact, 3600);
  binding.cseq = static_cast<uint32_t>(round + 1);
  return binding;
}

// What one caller thread saw.
struct CallerReport {
  int confirmed_ok = 0;
  int confirmed_other = 0;
  int confirmed_on_another_thread = 0;
  int users_ok = 0;
  bool all_answered = false;
};

struct ConcurrentCallersTest : ::testing::Test {
  ScratchDirectory directory;
  RecordingLogger logger;
  testkit::ManualLoop main_loop;
  SqliteLocationStoreOptions options = [] {
    SqliteLocationStoreOptions o;
    o.synchronous = SynchronousMode::kNormal;  // the locking is under test, not the disk
    o.sweep_interval = 1s;                     // sweeps walk the index while the callers change it
    return o;
  }();

  std::unique_ptr<SqliteLocationStore> open_store() {
    auto store = std::make_unique<SqliteLocationStore>(
        directory.file("location.sqlite"), options, main_loop, logger,
        [this]() -> EventLoop& { return calling_loop ? *calling_loop : main_loop; });
    EXPECT_TRUE(main_loop.run_until([&] { return store->writes_in_flight() == 0; }, 10s));
    return store;
  }
};

// One caller: its own loop, kRounds updates of its own and of the shared
// AORs, reads in between; then waits (bounded) for every answer.
CallerReport hammer(SqliteLocationStore& store, SqliteUserStore& users, int thread) {
  testkit::ManualLoop loop;
  calling_loop = &loop;
  CallerReport report;
  const std::thread::id me = std::this_thread::get_id();
  auto confirm = [&](StoreStatus status, const BindingList&) {
    if (std::this_thread::get_id() != me) ++report.confirmed_on_another_thread;
    ++(status == StoreStatus::kOk ? report.confirmed_ok : report.confirmed_other);
  };
  for (int round = 0; round < kRounds; ++round) {
    store.update(own_aor(thread, round), put(binding_of(own_contact(round), round)), confirm);
    store.update(shared_aor(round), put(binding_of(shared_contact(thread), round)), confirm);
    store.lookup(shared_aor(round + 1), [](StoreStatus, const BindingList&) {});
    if (round % 50 == 0) {
      store.list_aors("home.test", [](StoreStatus, const std::vector<std::string>&) {});
      users.put_user(UserRecord{"user" + std::to_string(thread) + "@home.test", "home.test", "member", {}},
                     [&](StoreStatus status) { report.users_ok += status == StoreStatus::kOk; });
    }
    loop.run_pending();
  }
  const int expected = 2 * kRounds;
  report.all_answered = loop.run_until(
      [&] {
        return report.confirmed_ok + report.confirmed_other == expected && report.users_ok == kRounds / 50;
      },
      60s);
  calling_loop = nullptr;
  return report;
}

// What every AOR must hold once all callers are done: the contacts and the
// cseq (round + 1) of the last write of each.
std::map<std::string, std::map<std::string, uint32_t>> expected_bindings() {
  std::map<std::string, std::map<std::string, uint32_t>> expected;
  for (int thread = 0; thread < kThreads; ++thread)
    for (int round = 0; round < kRounds; ++round) {
      expected[own_aor(thread, round)][own_contact(round)] = static_cast<uint32_t>(round + 1);
      expected[shared_aor(round)][shared_contact(thread)] = static_cast<uint32_t>(round + 1);
    }
  return expected;
}

std::map<std::string, uint32_t> cseq_by_contact(const BindingList& bindings) {
  std::map<std::string, uint32_t> cseqs;
  for (const Binding& binding : bindings) cseqs[binding.contact] = binding.cseq;
  return cseqs;
}

void expect_store_holds(SqliteLocationStore& store,
                        const std::map<std::string, std::map<std::string, uint32_t>>& expected) {
  std::vector<std::string> listed;
  store.list_aors("home.test", [&](StoreStatus, const std::vector<std::string>& aors) { listed = aors; });
  std::vector<std::string> expected_aors;
  for (const auto& [aor, contacts] : expected) expected_aors.push_back(aor);
  EXPECT_EQ(listed, expected_aors);
  for (const auto& [aor, contacts] : expected) {
    BindingList found;
    store.lookup(aor, [&](StoreStatus, const BindingList& bindings) { found = bindings; });
    EXPECT_EQ(cseq_by_contact(found), contacts) << aor;
  }
}

TEST_F(ConcurrentCallersTest, UpdatesLookupsAndListsFromEightLoopsAllLandExactlyOnce) {
  auto store = open_store();
  auto users = std::make_unique<SqliteUserStore>(*store);
  std::vector<CallerReport> reports(kThreads);
  std::atomic<int> finished{0};
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread)
    callers.emplace_back([&, thread] {
      reports[thread] = hammer(*store, *users, thread);
      ++finished;
    });
  // The store's loop meanwhile: the writer's confirmations and, every
  // (manual) second, a sweep pass. Bounded by the callers' own 60 s wait.
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (finished < kThreads && std::chrono::steady_clock::now() < deadline) {
    main_loop.run_until([&] { return finished == kThreads; }, 5ms);
    main_loop.advance(1s);
  }
  for (std::thread& caller : callers) caller.join();

  for (int thread = 0; thread < kThreads; ++thread) {
    const CallerReport& report = reports[thread];
    EXPECT_TRUE(report.all_answered) << "caller " << thread;
    EXPECT_EQ(report.confirmed_ok, 2 * kRounds) << "caller " << thread;
    EXPECT_EQ(report.confirmed_other, 0) << "caller " << thread;
    EXPECT_EQ(report.confirmed_on_another_thread, 0) << "caller " << thread;
    EXPECT_EQ(report.users_ok, kRounds / 50) << "caller " << thread;
  }
  const auto expected = expected_bindings();
  expect_store_holds(*store, expected);
  EXPECT_EQ(store->aor_count(), expected.size());
  EXPECT_EQ(store->users().size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(logger.count(LogLevel::kError), 0u);

  users.reset();
  store.reset();
  main_loop.run_pending();
  {
    OutsideConnection file(directory.file("location.sqlite"));
    size_t rows = 0;
    for (const auto& [aor, contacts] : expected) rows += contacts.size();
    EXPECT_EQ(file.row_count(), static_cast<int64_t>(rows));
  }
  auto reopened = open_store();
  expect_store_holds(*reopened, expected);
  EXPECT_EQ(reopened->users().size(), static_cast<size_t>(kThreads));
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
