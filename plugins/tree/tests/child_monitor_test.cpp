// ChildMonitor on the SDK test kit: child servers found in the store and in
// REGISTERs, probed with OPTIONS every interval, offline after the misses,
// online again on an answer or a REGISTER.
#include "child_monitor.hpp"

#include <gtest/gtest.h>

#include "homesip/testkit/testkit.hpp"
#include "memory_store.hpp"

using namespace homesip;
using namespace homesip::testkit;
using namespace homesip::tree;
using namespace std::chrono_literals;

namespace {

struct ChildMonitorTest : ::testing::Test {
  ManualLoop loop;
  FakeClient client;
  FakeLogger log;
  test::MemoryStore store;
  std::atomic<int64_t> online{0};
  std::atomic<uint64_t> failures{0};
  std::unique_ptr<ChildMonitor> monitor;

  void SetUp() override {
    store.bind("D1@C1", "sip:D1@127.0.0.1:5120", "homesipd/0.1.0");
    store.bind("D2@C1", "sip:D2@127.0.0.1:5121", "homesipd/0.1.0");
    store.bind("U5@C1", "sip:U5@192.0.2.7:5060", "baresip 1.0.0");  // a phone: never probed
  }
  void start(std::chrono::seconds interval = 5s) {
    monitor = std::make_unique<ChildMonitor>(client, loop, store,
                                             MonitorSettings{"C1", "sip:C1@127.0.0.1:5110", interval, 3}, log,
                                             MonitorMetrics{Gauge(&online), Counter(&failures)});
    monitor->start();
  }
  // The probes sent so far to `contact`.
  std::vector<size_t> probes_to(const std::string& contact) {
    std::vector<size_t> out;
    for (size_t i = 0; i < client.sent().size(); ++i)
      if (client.sent()[i].request.request_uri == contact) out.push_back(i);
    return out;
  }
  const ChildStatus* child(const std::string& aor) {
    static std::vector<ChildStatus> last;
    last = monitor->children();
    for (const ChildStatus& c : last)
      if (c.aor == aor) return &c;
    return nullptr;
  }
};

}  // namespace

TEST_F(ChildMonitorTest, ProbesEveryChildServerEachInterval) {
  start();
  ASSERT_EQ(monitor->children().size(), 2u);  // D1 and D2; U5 is a phone
  EXPECT_EQ(online.load(), 2);
  EXPECT_TRUE(client.sent().empty());  // learned in the first round, probed from the next
  loop.advance(5s);
  ASSERT_EQ(client.sent().size(), 2u);
  for (const auto& sent : client.sent()) {
    EXPECT_EQ(sent.request.method, "OPTIONS");
    EXPECT_EQ(sent.request.from, "sip:C1@127.0.0.1:5110");
  }
  EXPECT_EQ(probes_to("sip:D1@127.0.0.1:5120").size(), 1u);
  EXPECT_TRUE(client.answer(0, *ResponseBuilder(200).build()));
  EXPECT_TRUE(client.answer(1, *ResponseBuilder(200).build()));
  loop.advance(5s);
  EXPECT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(failures.load(), 0u);
}

TEST_F(ChildMonitorTest, OfflineAfterTheMissesThenOnlineAgainOnAnAnswer) {
  start();
  const int64_t started = loop.unix_now();
  for (int round = 1; round <= 3; ++round) {
    loop.advance(5s);
    for (size_t i : probes_to("sip:D2@127.0.0.1:5121")) client.answer(i, *ResponseBuilder(200).build());
    const std::vector<size_t> d1 = probes_to("sip:D1@127.0.0.1:5120");
    ASSERT_TRUE(client.time_out(d1.back()));  // the core's local 408
    EXPECT_EQ(monitor->offline("D1@C1"), round == 3) << round;
  }
  EXPECT_TRUE(monitor->offline("d1@c1"));  // names compare case-insensitively
  EXPECT_FALSE(monitor->offline("D2@C1"));
  EXPECT_EQ(child("D1@C1")->misses, 3);
  EXPECT_FALSE(child("D1@C1")->online);
  EXPECT_EQ(child("D1@C1")->since, started + 15);
  EXPECT_EQ(online.load(), 1);
  EXPECT_EQ(failures.load(), 3u);
  const auto warns = std::count_if(log.lines().begin(), log.lines().end(), [](const std::string& l) {
    return l.rfind("warn: child server D1@C1 is offline", 0) == 0;
  });
  EXPECT_EQ(warns, 1);

  // Still probed while offline; one more miss logs nothing new.
  loop.advance(5s);
  ASSERT_TRUE(client.time_out(probes_to("sip:D1@127.0.0.1:5120").back()));
  EXPECT_EQ(child("D1@C1")->misses, 4);
  loop.advance(5s);
  ASSERT_TRUE(client.answer(probes_to("sip:D1@127.0.0.1:5120").back(), *ResponseBuilder(200).build()));
  EXPECT_FALSE(monitor->offline("D1@C1"));
  EXPECT_EQ(child("D1@C1")->misses, 0);
  EXPECT_EQ(child("D1@C1")->since, started + 25);
  EXPECT_EQ(online.load(), 2);
  EXPECT_TRUE(log.contains("info: child server D1@C1 is online again"));
}

TEST_F(ChildMonitorTest, AProbeUnansweredAtTheNextRoundIsAMiss) {
  start();
  loop.advance(5s);   // probes 1
  loop.advance(10s);  // probes 2 and 3: 1 and 2 unanswered
  EXPECT_FALSE(monitor->offline("D1@C1"));
  loop.advance(5s);  // probe 3 unanswered: offline
  EXPECT_TRUE(monitor->offline("D1@C1"));
  EXPECT_TRUE(monitor->offline("D2@C1"));
  EXPECT_EQ(online.load(), 0);
  // An answer to a probe replaced by a newer one is not delivered.
  EXPECT_FALSE(client.answer(0, *ResponseBuilder(200).build()));
}

TEST_F(ChildMonitorTest, ARegisterBringsAChildBackAndAnUnregisterForgetsIt) {
  start();
  for (int round = 0; round < 3; ++round) {
    loop.advance(5s);
    ASSERT_TRUE(client.time_out(probes_to("sip:D1@127.0.0.1:5120").back()));
  }
  ASSERT_TRUE(monitor->offline("D1@C1"));
  monitor->on_register("D1@C1", "sip:D1@127.0.0.1:6120", 120, loop.unix_now());
  EXPECT_FALSE(monitor->offline("D1@C1"));
  EXPECT_EQ(child("D1@C1")->contact, "sip:D1@127.0.0.1:6120");
  EXPECT_TRUE(log.contains("child server D1@C1 is online again (registered again)"));

  monitor->on_register("D3@C1", "sip:D3@127.0.0.1:5122", 120, loop.unix_now());  // not in the store yet
  EXPECT_NE(child("D3@C1"), nullptr);
  monitor->on_register("D2@C1", "sip:D2@127.0.0.1:5121", 0, loop.unix_now());  // a graceful stop
  EXPECT_EQ(child("D2@C1"), nullptr);
  EXPECT_EQ(online.load(), 2);
  loop.run_pending();
}

TEST_F(ChildMonitorTest, AChildWithoutABindingIsForgotten) {
  start();
  store.bindings.erase("D2@C1");
  loop.advance(5s);
  EXPECT_EQ(child("D2@C1"), nullptr);
  EXPECT_NE(child("D1@C1"), nullptr);
}

TEST_F(ChildMonitorTest, NoKeepalivesWhenTheIntervalIsZero) {
  start(0s);
  EXPECT_EQ(monitor->children().size(), 2u);
  loop.advance(60s);
  EXPECT_TRUE(client.sent().empty());
  EXPECT_EQ(loop.active_timers(), 0u);
}

TEST(ServerUserAgent, OnlyHomesipdIsAServer) {
  EXPECT_TRUE(is_server_user_agent("homesipd/0.1.0"));
  EXPECT_TRUE(is_server_user_agent("homesipd"));
  EXPECT_FALSE(is_server_user_agent("baresip homesipd"));
  EXPECT_FALSE(is_server_user_agent("homesip-ua/1"));
  EXPECT_FALSE(is_server_user_agent(""));
}
