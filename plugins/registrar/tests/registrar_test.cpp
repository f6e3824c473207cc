// The registrar plugin on the SDK test kit: created through its descriptor on
// a FakePluginContext, fed REGISTERs built with RequestBuilder, timed by the
// ManualLoop, writing to a store the test answers when it wants.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "homesip/homesip.hpp"
#include "homesip/testkit/testkit.hpp"

using namespace homesip;
using namespace homesip::testkit;

extern "C" const PluginDescriptor* homesip_plugin_descriptor();

namespace {

constexpr int64_t kNow = 1'800'000'000;

// Keeps bindings in memory. Answers at once, or -- with `hold` -- keeps the
// callback until the test calls release(), as a store waiting for its disk.
class FakeStore final : public LocationStore {
 public:
  std::map<std::string, BindingList, std::less<>> aors;
  int updates = 0;
  bool hold = false;
  StoreStatus status = StoreStatus::kOk;

  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override {
    ++updates;
    BindingList list = aors[std::string(aor)];
    if (status == StoreStatus::kOk && edit(list)) aors[std::string(aor)] = list;
    answer([done, list = aors[std::string(aor)], s = status] { done(s, list); });
  }
  void lookup(std::string_view aor, LookupDone done) override {
    answer([done, list = aors[std::string(aor)], s = status] { done(s, list); });
  }
  void list_aors(std::string_view, ListDone done) override { done(StoreStatus::kOk, {}); }
  void release() {
    auto held = std::move(held_);
    held_.clear();
    for (auto& callback : held) callback();
  }

 private:
  void answer(std::function<void()> callback) {
    if (hold)
      held_.push_back(std::move(callback));
    else
      callback();
  }
  std::vector<std::function<void()>> held_;
};

// What the tree plugin offers: this server's place.
class FakeTree final : public TreeService {
 public:
  explicit FakeTree(ServerIdentity me) : me_(std::move(me)) {}
  const ServerIdentity& self() const override { return me_; }

 private:
  ServerIdentity me_;
};

struct RegistrarTest : ::testing::Test {
  FakeStore store;
  std::unique_ptr<FakePluginContext> context;
  std::unique_ptr<Plugin> plugin;

  void SetUp() override { start({{"max_expires", 7200}, {"domains", {"C1.D1.H1"}}}); }
  // `tree`: the tree plugin's service, or nullptr for a plain registrar.
  void start(const SettingValues& values, TreeService* tree = nullptr) {
    plugin.reset();
    context = std::make_unique<FakePluginContext>(*homesip_plugin_descriptor(), values);
    context->add_service<LocationStore>(store);
    if (tree) context->add_service<TreeService>(*tree);
    context->manual_loop().set_unix_now(kNow);
    plugin = context->create_plugin();
  }
  RequestHandler& registrar() { return *context->handlers().at(0).handler; }

  // Runs the registrar on `builder`'s request and returns what it did.
  std::unique_ptr<FakeIncomingRequest> send(const RequestBuilder& builder, Disposition expected) {
    auto incoming = std::make_unique<FakeIncomingRequest>(builder.build(), context->manual_loop());
    EXPECT_EQ(registrar().on_request(*incoming), expected);
    context->manual_loop().run_pending();
    return incoming;
  }
  uint64_t counter(const char* name) { return context->counter_value(name).value_or(999); }
};

RequestBuilder register_u1() { return RequestBuilder::registration("u1@C1.D1.H1"); }

}  // namespace

TEST_F(RegistrarTest, SitsInTheRegistrarPhaseAndNeedsALocationStore) {
  ASSERT_EQ(context->handlers().size(), 1u);
  EXPECT_EQ(context->handlers()[0].placement.phase, Phase::kRegistrar);
  FakePluginContext bare(*homesip_plugin_descriptor());
  EXPECT_THROW(bare.create_plugin(), std::logic_error) << "no provider of the required LocationStore";
}

TEST_F(RegistrarTest, CheckSettingsRefusesRangesBeforeThePluginExists) {
  try {
    FakePluginContext bad(*homesip_plugin_descriptor(), {{"min_expires", 0}});
    ADD_FAILURE() << "min_expires 0 accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "min_expires");
  }
  try {
    FakePluginContext bad(*homesip_plugin_descriptor(), {{"max_expires", 600}, {"default_expires", 3600}});
    ADD_FAILURE() << "default_expires above max_expires accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "default_expires");
  }
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"retry_after_s", 0}}), ConfigError);
}

TEST_F(RegistrarTest, OtherMethodsPassOn) {
  auto incoming =
      send(RequestBuilder().method(Method::kInvite).uri("sip:u1@C1.D1.H1"), Disposition::kContinue);
  EXPECT_TRUE(incoming->replies().empty());
  EXPECT_EQ(store.updates, 0);
}

TEST_F(RegistrarTest, RegistersOnlyForItsDomains) {
  auto incoming =
      send(RequestBuilder::registration("u1@C1.D1.H2").contact("<sip:u1@192.0.2.7>"), Disposition::kHandled);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 404);
  EXPECT_EQ(incoming->last_reply()->reason, "Domain Not Served Here");
  EXPECT_EQ(store.updates, 0);
  EXPECT_EQ(counter("rejected_total"), 1u);

  auto served = send(RequestBuilder::registration("u1@c1.d1.h1").contact("<sip:u1@192.0.2.7>"),
                     Disposition::kSuspended);
  ASSERT_NE(served->last_reply(), nullptr);
  EXPECT_EQ(served->last_reply()->status, 200) << "the domain compares without case";
}

TEST_F(RegistrarTest, InATreeServesTheTreesChildDomain) {
  FakeTree tree({"H2", "C1.D1"});
  start({}, &tree);
  auto other = send(register_u1().contact("<sip:u1@192.0.2.7>"), Disposition::kHandled);
  ASSERT_NE(other->last_reply(), nullptr);
  EXPECT_EQ(other->last_reply()->status, 404) << "C1.D1.H1 is another family's";
  EXPECT_EQ(other->last_reply()->reason, "Domain Not Served Here");

  auto mine = send(RequestBuilder::registration("u1@C1.D1.H2").contact("<sip:u1@192.0.2.7>"),
                   Disposition::kSuspended);
  ASSERT_NE(mine->last_reply(), nullptr);
  EXPECT_EQ(mine->last_reply()->status, 200);
  EXPECT_EQ(store.aors.count("u1@C1.D1.H2"), 1u);
}

TEST_F(RegistrarTest, DomainsBesideATreeAreRefusedNamingTheDerivedDomain) {
  FakeTree tree({"H2", "C1.D1"});
  try {
    start({{"domains", {"C1.D1.H2"}}}, &tree);
    ADD_FAILURE() << "registrar.domains accepted beside the tree plugin";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "domains");
    EXPECT_NE(std::string(e.what()).find("derived from the tree plugin (C1.D1.H2): remove registrar.domains"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(RegistrarTest, TheTopServesItsOwnName) {
  FakeTree top({"C1", ""});
  start({}, &top);
  auto incoming =
      send(RequestBuilder::registration("D1@C1").contact("<sip:D1@192.0.2.7>"), Disposition::kSuspended);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 200);
}

TEST_F(RegistrarTest, WithoutATreeAndWithoutDomainsServesAny) {
  start({});
  auto incoming = send(RequestBuilder::registration("u1@example.org").contact("<sip:u1@192.0.2.7>"),
                       Disposition::kSuspended);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 200);
}

TEST_F(RegistrarTest, AnswersOnlyOnceTheStoreConfirms) {
  store.hold = true;
  auto incoming = send(register_u1().contact("<sip:u1@192.0.2.7:5060>;expires=600"), Disposition::kSuspended);
  EXPECT_TRUE(incoming->suspended());
  EXPECT_EQ(incoming->last_reply(), nullptr) << "no 200 before the binding is durable";
  EXPECT_EQ(counter("registrations_total"), 0u);

  store.release();
  ASSERT_NE(incoming->last_reply(), nullptr);
  const Reply& ok = *incoming->last_reply();
  EXPECT_EQ(ok.status, 200);
  ASSERT_EQ(ok.contacts.size(), 1u);
  EXPECT_EQ(ok.contacts[0].uri, "sip:u1@192.0.2.7:5060");
  EXPECT_EQ(ok.contacts[0].expires, 600u);
  EXPECT_FALSE(incoming->dropped());
  EXPECT_EQ(counter("registrations_total"), 1u);
  EXPECT_EQ(counter("rejected_total"), 0u);
}

TEST_F(RegistrarTest, ExpiryIsTheLoopsClock) {
  send(register_u1().call_id("c1").contact("<sip:u1@192.0.2.7>;expires=600").source("tcp", "192.0.2.7", 5070),
       Disposition::kSuspended);
  const BindingList& stored = store.aors["u1@C1.D1.H1"];
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].expires_at, kNow + 600);
  EXPECT_EQ(stored[0].call_id, "c1");
  EXPECT_EQ(stored[0].source, "tcp:192.0.2.7:5070");

  context->manual_loop().advance(std::chrono::seconds(100));
  auto fetch = send(register_u1().call_id("c2"), Disposition::kSuspended);  // no Contact: list bindings
  ASSERT_NE(fetch->last_reply(), nullptr);
  ASSERT_EQ(fetch->last_reply()->contacts.size(), 1u);
  EXPECT_EQ(fetch->last_reply()->contacts[0].expires, 500u);
}

TEST_F(RegistrarTest, SaturatedContactExpiresIsBoundForMaxExpires) {
  auto incoming =
      send(register_u1().contact("<sip:u1@192.0.2.7>;expires=99999999999"), Disposition::kSuspended);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 200);
  ASSERT_EQ(store.aors["u1@C1.D1.H1"].size(), 1u);
  EXPECT_EQ(store.aors["u1@C1.D1.H1"][0].expires_at, kNow + 7200);
}

// How the core hands over ;expires=-5 or ;expires=abc: not delta-seconds.
TEST_F(RegistrarTest, InvalidContactExpiresAnswers400WithoutTouchingTheStore) {
  auto incoming =
      send(register_u1().contact("<sip:u1@192.0.2.7>;expires=abc").expires(600), Disposition::kHandled);
  ASSERT_EQ(incoming->replies().size(), 1u);
  EXPECT_EQ(incoming->replies()[0].status, 400);
  EXPECT_EQ(incoming->replies()[0].reason, "Invalid Contact Expires");
  EXPECT_EQ(store.updates, 0);
  EXPECT_EQ(counter("rejected_total"), 1u);
}

TEST_F(RegistrarTest, TooShortAnswers423WithMinExpires) {
  auto incoming = send(register_u1().contact("<sip:u1@192.0.2.7>;expires=10"), Disposition::kHandled);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 423);
  ASSERT_EQ(incoming->last_reply()->headers.size(), 1u);
  EXPECT_EQ(incoming->last_reply()->headers[0], (std::pair<std::string, std::string>{"Min-Expires", "60"}));
}

TEST_F(RegistrarTest, UnregisteringIsCountedApart) {
  send(register_u1().contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  auto removal = send(register_u1().cseq(2).contact("*").expires(0), Disposition::kSuspended);
  ASSERT_NE(removal->last_reply(), nullptr);
  EXPECT_EQ(removal->last_reply()->status, 200);
  EXPECT_TRUE(removal->last_reply()->contacts.empty());
  EXPECT_TRUE(store.aors["u1@C1.D1.H1"].empty());
  EXPECT_EQ(counter("registrations_total"), 1u);
  EXPECT_EQ(counter("unregistrations_total"), 1u);
}

TEST_F(RegistrarTest, StoreDownAnswers503WithRetryAfter) {
  start({{"retry_after_s", 9}});
  store.status = StoreStatus::kUnavailable;
  auto incoming = send(register_u1().contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 503);
  ASSERT_EQ(incoming->last_reply()->headers.size(), 1u);
  EXPECT_EQ(incoming->last_reply()->headers[0], (std::pair<std::string, std::string>{"Retry-After", "9"}));
  EXPECT_EQ(counter("rejected_total"), 1u);
  EXPECT_TRUE(store.aors["u1@C1.D1.H1"].empty());
}

TEST_F(RegistrarTest, ToWithoutUserAnswers404) {
  auto incoming =
      send(RequestBuilder().method(Method::kRegister).to("sip:C1.D1.H1").contact("<sip:u1@192.0.2.7>"),
           Disposition::kHandled);
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 404);
}

TEST_F(RegistrarTest, BoundsContactBytesAndBindingsPerAorFromItsSettings) {
  start({{"domains", {"C1.D1.H1"}}, {"max_contact_bytes", 64}, {"max_bindings_per_aor", 2}});
  const std::string long_contact = "<sip:u1@192.0.2.7;x=" + std::string(60, 'a') + ">";
  auto refused = send(register_u1().contact(long_contact), Disposition::kHandled);
  ASSERT_NE(refused->last_reply(), nullptr);
  EXPECT_EQ(refused->last_reply()->status, 400);
  EXPECT_EQ(refused->last_reply()->reason, "Contact Longer Than max_contact_bytes 64");
  EXPECT_EQ(store.updates, 0) << "refused before the store is asked";

  send(register_u1().call_id("a").contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  send(register_u1().call_id("b").contact("<sip:u1@192.0.2.8>"), Disposition::kSuspended);
  auto third = send(register_u1().call_id("c").contact("<sip:u1@192.0.2.9>"), Disposition::kSuspended);
  ASSERT_NE(third->last_reply(), nullptr);
  EXPECT_EQ(third->last_reply()->status, 403);
  EXPECT_EQ(third->last_reply()->reason, "Too Many Registered Contacts");
  auto refresh =
      send(register_u1().call_id("a").cseq(2).contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  ASSERT_NE(refresh->last_reply(), nullptr);
  EXPECT_EQ(refresh->last_reply()->status, 200) << "a refresh of a binding at the limit";
  EXPECT_EQ(store.aors["u1@C1.D1.H1"].size(), 2u);

  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"max_contact_bytes", 10}}), ConfigError);
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"max_bindings_per_aor", 0}}), ConfigError);
}

namespace {

size_t lines_with(const std::vector<std::string>& lines, std::string_view text) {
  return static_cast<size_t>(std::count_if(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.find(text) != std::string::npos;
  }));
}

}  // namespace

TEST_F(RegistrarTest, LogsABindingAddedAndRemovedOnceAndNoRefresh) {
  send(register_u1().contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  send(register_u1().cseq(2).contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);  // a refresh
  send(register_u1().cseq(3).contact("<sip:u1@192.0.2.7>").expires(0), Disposition::kSuspended);
  const auto& lines = context->log_lines();
  EXPECT_EQ(lines_with(lines, "registration added aor=u1@C1.D1.H1 contact=<sip%3Au1@192.0.2.7> source="), 1u)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, " expires=3600"), 1u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, "registration removed aor=u1@C1.D1.H1 contact=<sip%3Au1@192.0.2.7> source="),
            1u)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, "registration "), 2u) << ::testing::PrintToString(lines);
}

TEST_F(RegistrarTest, AStoreOutageIsOneWarningWhenItStartsAndOneWhenItEnds) {
  store.status = StoreStatus::kUnavailable;
  for (int i = 1; i <= 50; ++i)
    send(register_u1().cseq(i).contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  store.status = StoreStatus::kOk;
  send(register_u1().cseq(51).contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  send(register_u1().cseq(52).contact("<sip:u1@192.0.2.7>"), Disposition::kSuspended);
  const auto& lines = context->log_lines();
  EXPECT_EQ(lines_with(lines, "warn: location store (registrar) unavailable: REGISTER u1@C1.D1.H1 from "), 1u)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, "warn: location store (registrar) available again after 50 failures"), 1u)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, "warn:"), 2u) << ::testing::PrintToString(lines);
  EXPECT_EQ(counter("rejected_total"), 50u);
}

TEST_F(RegistrarTest, ARefusalOfWhereIsOneInfoLineAProtocolSlipIsDebug) {
  send(RequestBuilder::registration("u1@C9.D9.H9").contact("<sip:u1@192.0.2.7>"), Disposition::kHandled);
  send(register_u1().contact("<sip:u1@192.0.2.7>;expires=5"), Disposition::kHandled);  // 423
  const auto& lines = context->log_lines();
  EXPECT_EQ(lines_with(lines, "info: refused method=REGISTER aor=u1@C9.D9.H9 source="), 1u)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, " status=404 reason=\"Domain Not Served Here\""), 1u)
      << ::testing::PrintToString(lines);
  EXPECT_EQ(lines_with(lines, "debug: refused method=REGISTER aor=u1@C1.D1.H1 source="), 1u)
      << ::testing::PrintToString(lines);
}
