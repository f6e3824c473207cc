// Unit tests of the virtual lamp on the SDK's test kit: no server, no network.
// The lamp is created through its descriptor, as homesipd creates it; a
// location store that answers only when the test says shows that a switching
// request waits for the lookup, and the fake client shows what the lamp sent.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <homesip/homesip.hpp>
#include <homesip/testkit/fake_context.hpp>
#include <homesip/testkit/fake_incoming.hpp>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace {

using homesip::Disposition;
using homesip::testkit::FakeIncomingRequest;
using homesip::testkit::FakePluginContext;
using homesip::testkit::RequestBuilder;

// A location store whose lookups wait until the test answers them, like a
// backend that reads from disk.
class WaitingStore final : public homesip::LocationStore {
 public:
  struct Lookup {
    std::string aor;
    homesip::LookupDone done;
  };
  void update(std::string_view, homesip::BindingEditor, homesip::UpdateDone done) override {
    done(homesip::StoreStatus::kError, {});  // the lamp never writes
  }
  void lookup(std::string_view aor, homesip::LookupDone done) override {
    lookups.push_back({std::string(aor), std::move(done)});
  }
  void list_aors(std::string_view, homesip::ListDone done) override {
    done(homesip::StoreStatus::kError, {});
  }

  std::vector<Lookup> lookups;
};

// Where the server stands, as the tree plugin offers it: family H1 of C1.D1.
class FakeTree final : public homesip::TreeService {
 public:
  const homesip::ServerIdentity& self() const override { return me_; }

 private:
  homesip::ServerIdentity me_{"H1", "C1.D1"};
};

homesip::Binding binding(std::string contact) {
  homesip::Binding b;
  b.contact = std::move(contact);
  return b;
}

// A MESSAGE to the lamp with `body`; the same Call-ID, and a CSeq per test
// step, as one phone sending commands in a row.
std::unique_ptr<homesip::testkit::FakeRequest> message(const std::string& body, uint32_t cseq = 1,
                                                       const std::string& uri = "sip:lamp@C1.D1.H1") {
  return RequestBuilder()
      .method(homesip::Method::kMessage)
      .uri(uri)
      .from("sip:U2@C1.D1.H1")
      .to(uri)
      .call_id("lamp-test@192.0.2.7")
      .cseq(cseq)
      .body("text/plain", body)
      .build();
}

class VirtualLampTest : public ::testing::Test {
 protected:
  explicit VirtualLampTest(homesip::testkit::SettingValues settings = {{"owner", "U1@C1.D1.H1"}})
      : context_(*homesip_plugin_descriptor(), settings) {
    context_.add_service<homesip::LocationStore>(store_);
    context_.add_service<homesip::TreeService>(tree_);
    lamp_ = context_.create_plugin();
    if (context_.handlers().size() != 1) throw std::logic_error("the lamp adds one handler");
  }

  Disposition send(FakeIncomingRequest& incoming) {
    return context_.handlers().front().handler->on_request(incoming);
  }
  FakeIncomingRequest request(const std::string& body, uint32_t cseq = 1) {
    return FakeIncomingRequest(message(body, cseq), context_.manual_loop());
  }

  WaitingStore store_;
  FakeTree tree_;
  FakePluginContext context_;
  std::unique_ptr<homesip::Plugin> lamp_;
};

TEST_F(VirtualLampTest, SitsInTheLocalServicesPhase) {
  EXPECT_EQ(context_.handlers().front().placement.phase, homesip::Phase::kLocalServices);
  EXPECT_EQ(context_.handlers().front().name, "virtual-lamp");
}

TEST_F(VirtualLampTest, SwitchingWaitsForTheOwnersContactsTellsEachThenAnswers) {
  FakeIncomingRequest incoming = request("on");
  ASSERT_EQ(send(incoming), Disposition::kSuspended);
  EXPECT_EQ(incoming.last_reply(), nullptr) << "answered before the lookup";
  ASSERT_EQ(store_.lookups.size(), 1u);
  EXPECT_EQ(store_.lookups[0].aor, "U1@C1.D1.H1");
  EXPECT_TRUE(context_.fake_client().sent().empty());

  store_.lookups[0].done(homesip::StoreStatus::kOk, {binding("sip:U1@192.0.2.10:5060"),
                                                     binding("sip:U1@192.0.2.11:5070;transport=tcp")});

  const auto& sent = context_.fake_client().sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].request.request_uri, "sip:U1@192.0.2.10:5060");
  EXPECT_EQ(sent[1].request.request_uri, "sip:U1@192.0.2.11:5070;transport=tcp");
  for (const auto& s : sent) {
    EXPECT_EQ(s.request.method, "MESSAGE");
    EXPECT_EQ(s.request.from, "<sip:lamp@C1.D1.H1>");
    EXPECT_EQ(s.request.to, "<sip:U1@C1.D1.H1>");
    EXPECT_EQ(s.request.content_type, "text/plain");
    EXPECT_EQ(s.request.body, "lamp is on");
  }
  ASSERT_EQ(incoming.replies().size(), 1u);
  EXPECT_EQ(incoming.last_reply()->status, 200);
  EXPECT_EQ(incoming.last_reply()->body, "on");
  EXPECT_FALSE(incoming.dropped());
  EXPECT_EQ(context_.counter_value("switches_total"), 1u);
  const auto state = context_.run_command("state");
  EXPECT_TRUE(state.ok);
  EXPECT_EQ(state.text, R"({"state":"on","changes":1})");
}

TEST_F(VirtualLampTest, AStateItAlreadyHasIsAnsweredAtOnceWithoutTellingAnyone) {
  FakeIncomingRequest incoming = request("off");
  ASSERT_EQ(send(incoming), Disposition::kHandled);
  ASSERT_NE(incoming.last_reply(), nullptr);
  EXPECT_EQ(incoming.last_reply()->status, 200);
  EXPECT_EQ(incoming.last_reply()->body, "off");
  EXPECT_TRUE(store_.lookups.empty());
  EXPECT_EQ(context_.counter_value("switches_total"), 0u);
  EXPECT_EQ(context_.run_command("state").text, R"({"state":"off","changes":0})");
}

TEST_F(VirtualLampTest, ARetransmittedToggleAnswersWhatTheFirstDidWithoutToggling) {
  FakeIncomingRequest first = request("toggle", 7);
  ASSERT_EQ(send(first), Disposition::kSuspended);
  store_.lookups.at(0).done(homesip::StoreStatus::kOk, {binding("sip:U1@192.0.2.10")});
  ASSERT_NE(first.last_reply(), nullptr);
  EXPECT_EQ(first.last_reply()->body, "on");

  FakeIncomingRequest again = request("toggle", 7);  // the same Call-ID and CSeq
  ASSERT_EQ(send(again), Disposition::kHandled);
  ASSERT_NE(again.last_reply(), nullptr);
  EXPECT_EQ(again.last_reply()->body, "on");
  EXPECT_EQ(store_.lookups.size(), 1u);
  EXPECT_EQ(context_.fake_client().sent().size(), 1u);

  FakeIncomingRequest next = request("toggle", 8);
  ASSERT_EQ(send(next), Disposition::kSuspended);
  store_.lookups.at(1).done(homesip::StoreStatus::kOk, {binding("sip:U1@192.0.2.10")});
  ASSERT_NE(next.last_reply(), nullptr);
  EXPECT_EQ(next.last_reply()->body, "off");
  EXPECT_EQ(context_.fake_client().sent().back().request.body, "lamp is off");
  EXPECT_EQ(context_.run_command("state").text, R"({"state":"off","changes":2})");
}

TEST_F(VirtualLampTest, AStoreThatCannotAnswerStillSwitchesAndAnswers) {
  FakeIncomingRequest incoming = request("on");
  ASSERT_EQ(send(incoming), Disposition::kSuspended);
  store_.lookups.at(0).done(homesip::StoreStatus::kUnavailable, {});
  ASSERT_NE(incoming.last_reply(), nullptr);
  EXPECT_EQ(incoming.last_reply()->status, 200);
  EXPECT_EQ(incoming.last_reply()->body, "on");
  EXPECT_TRUE(context_.fake_client().sent().empty());
  EXPECT_TRUE(context_.fake_logger().contains("cannot find U1@C1.D1.H1's contacts"))
      << context_.log_lines().size();
}

TEST_F(VirtualLampTest, StatusAndNonsense) {
  FakeIncomingRequest status = request("status");
  ASSERT_EQ(send(status), Disposition::kHandled);
  EXPECT_EQ(status.last_reply()->body, "off");
  FakeIncomingRequest nonsense = request("dance", 2);
  ASSERT_EQ(send(nonsense), Disposition::kHandled);
  EXPECT_EQ(nonsense.last_reply()->status, 400);
  EXPECT_EQ(nonsense.last_reply()->reason, "Unknown Command");
}

TEST_F(VirtualLampTest, PassesOnWhatIsNotForIt) {
  FakeIncomingRequest other_user(message("on", 1, "sip:fan@C1.D1.H1"), context_.manual_loop());
  EXPECT_EQ(send(other_user), Disposition::kContinue);
  FakeIncomingRequest other_domain(message("on", 1, "sip:lamp@C2.D1.H1"), context_.manual_loop());
  EXPECT_EQ(send(other_domain), Disposition::kContinue);
  FakeIncomingRequest options(
      RequestBuilder().method(homesip::Method::kOptions).uri("sip:lamp@c1.d1.h1").build(),
      context_.manual_loop());
  EXPECT_EQ(send(options), Disposition::kContinue);
  for (const auto* r : {&other_user, &other_domain, &options}) EXPECT_EQ(r->last_reply(), nullptr);
  EXPECT_EQ(context_.run_command("state").text, R"({"state":"off","changes":0})");
}

class VirtualLampWithIdentityTest : public VirtualLampTest {
 protected:
  VirtualLampWithIdentityTest() : VirtualLampTest({{"require_identity", true}}) {}
};

TEST_F(VirtualLampWithIdentityTest, RefusesWhatNoAuthenticationPluginIdentifiedWhateverFromSays) {
  FakeIncomingRequest anonymous = request("on");
  ASSERT_EQ(send(anonymous), Disposition::kHandled);
  EXPECT_EQ(anonymous.last_reply()->status, 403);

  FakeIncomingRequest identified = request("on", 2);
  identified.attributes().set(homesip::kAuthenticatedIdentity,
                              homesip::AuthenticatedIdentity{"U2@C1.D1.H1", "C1.D1.H1", "member", "digest"});
  // No owner is configured: nobody to tell, so the lamp answers at once.
  ASSERT_EQ(send(identified), Disposition::kHandled);
  EXPECT_EQ(identified.last_reply()->status, 200);
  EXPECT_EQ(identified.last_reply()->body, "on");
  EXPECT_TRUE(store_.lookups.empty());
}

class VirtualLampWithoutOwnerTest : public VirtualLampTest {
 protected:
  VirtualLampWithoutOwnerTest() : VirtualLampTest({}) {}
};

// With server.loops: N the handler is called on several loops at once: the
// lamp's state is behind its mutex, so every toggle switches it exactly once
// and the answers alternate, half of them "on".
TEST_F(VirtualLampWithoutOwnerTest, TogglesFromTwoLoopsAtOnceEachSwitchOnce) {
  context_.fake_logger().threshold = homesip::LogLevel::kWarn;  // the test kit's logger is one thread's
  constexpr int kPerLoop = 2000;
  std::array<int, 2> answered_on{0, 0};
  std::array<int, 2> answered_ok{0, 0};
  std::atomic<int> ready{0};
  const auto receive_on_a_loop_of_its_own = [&](int which) {
    homesip::testkit::ManualLoop loop;  // created here: this thread is its loop's
    // Both start together, so their toggles overlap (without the lamp's mutex
    // most runs crash on its list of recent requests).
    ++ready;
    while (ready < 2) std::this_thread::yield();
    for (int i = 0; i < kPerLoop; ++i) {
      const std::string call_id = "loop" + std::to_string(which) + "-" + std::to_string(i);
      FakeIncomingRequest incoming(RequestBuilder()
                                       .method(homesip::Method::kMessage)
                                       .uri("sip:lamp@C1.D1.H1")
                                       .from("sip:U2@C1.D1.H1")
                                       .to("sip:lamp@C1.D1.H1")
                                       .call_id(call_id)
                                       .cseq(1)
                                       .body("text/plain", "toggle")
                                       .build(),
                                   loop);
      if (send(incoming) != Disposition::kHandled || incoming.replies().size() != 1) continue;
      if (incoming.last_reply()->status == 200) ++answered_ok[which];
      if (incoming.last_reply()->body == "on") ++answered_on[which];
    }
  };
  std::thread first(receive_on_a_loop_of_its_own, 0);
  std::thread second(receive_on_a_loop_of_its_own, 1);
  first.join();
  second.join();
  EXPECT_EQ(answered_ok[0] + answered_ok[1], 2 * kPerLoop);
  EXPECT_EQ(answered_on[0] + answered_on[1], kPerLoop);
  EXPECT_EQ(context_.counter_value("switches_total"), 2u * kPerLoop);
  EXPECT_EQ(context_.run_command("state").text,
            R"({"state":"off","changes":)" + std::to_string(2 * kPerLoop) + "}");
}

TEST(VirtualLampSettings, AreCheckedBeforeTheLampExists) {
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"initial_state", "dim"}}),
               homesip::ConfigError);
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"owner", "not an aor"}}),
               homesip::ConfigError);
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"owner", "C1.D1.H1"}}),
               homesip::ConfigError);
  FakePluginContext lonely(*homesip_plugin_descriptor(), {{"owner", "U1@C1.D1.H1"}, {"domain", "C1.D1.H1"}});
  try {
    lonely.create_plugin();
    FAIL() << "an owner with no location store was accepted";
  } catch (const homesip::ConfigError& e) {
    EXPECT_EQ(e.key(), "owner");
  }
  FakePluginContext on(*homesip_plugin_descriptor(), {{"initial_state", "on"}, {"domain", "C1.D1.H1"}});
  const auto lamp = on.create_plugin();
  EXPECT_EQ(on.run_command("state").text, R"({"state":"on","changes":0})");
}

// The domain comes from one place: the tree when there is one, else the setting.
TEST(VirtualLampSettings, DomainIsTheTreesOrTheSettingNeverBoth) {
  FakeTree tree;
  FakePluginContext both(*homesip_plugin_descriptor(), {{"domain", "C1.D1.H1"}});
  both.add_service<homesip::TreeService>(tree);
  try {
    both.create_plugin();
    FAIL() << "domain accepted beside the tree plugin";
  } catch (const homesip::ConfigError& e) {
    EXPECT_EQ(e.key(), "domain");
  }
  FakePluginContext neither(*homesip_plugin_descriptor());
  try {
    neither.create_plugin();
    FAIL() << "a lamp without a domain was accepted";
  } catch (const homesip::ConfigError& e) {
    EXPECT_EQ(e.key(), "domain");
  }

  FakePluginContext plain(*homesip_plugin_descriptor(), {{"domain", "home.example"}});
  const auto lamp = plain.create_plugin();
  FakeIncomingRequest status(message("status", 1, "sip:lamp@home.example"), plain.manual_loop());
  ASSERT_EQ(plain.handlers().front().handler->on_request(status), Disposition::kHandled);
  ASSERT_NE(status.last_reply(), nullptr);
  EXPECT_EQ(status.last_reply()->body, "off");
}

}  // namespace
