// The redirect plugin on the SDK test kit: created through its descriptor,
// in the routing phase, suspending a call while the store looks its callee up.
#include <gtest/gtest.h>

#include "homesip/homesip.hpp"
#include "homesip/testkit/testkit.hpp"

using namespace homesip;
using namespace homesip::testkit;

extern "C" const PluginDescriptor* homesip_plugin_descriptor();

namespace {

// Answers lookups when the test says, from a fixed list.
class HeldStore final : public LocationStore {
 public:
  BindingList bindings;
  std::vector<std::pair<std::string, LookupDone>> lookups;
  void update(std::string_view, BindingEditor, UpdateDone done) override { done(StoreStatus::kError, {}); }
  void lookup(std::string_view aor, LookupDone done) override { lookups.emplace_back(aor, std::move(done)); }
  void list_aors(std::string_view, ListDone done) override { done(StoreStatus::kOk, {}); }
};

struct RedirectPluginTest : ::testing::Test {
  HeldStore store;
  FakePluginContext context{*homesip_plugin_descriptor(), {{"parent_contact", "sip:D1@192.0.2.1:5060"}}};
  std::unique_ptr<Plugin> plugin;
  void SetUp() override {
    context.add_service<LocationStore>(store);
    context.manual_loop().set_unix_now(1'800'000'000);
    plugin = context.create_plugin();
  }
  RequestHandler& redirect() { return *context.handlers().at(0).handler; }
};

}  // namespace

TEST_F(RedirectPluginTest, RoutesBeforeTheRegistrar) {
  EXPECT_EQ(context.handlers().at(0).placement.phase, Phase::kRouting);
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"parent_contact", "mailto:x@y"}}),
               ConfigError);
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"redirect_methods", {"BYE"}}}), ConfigError);
}

TEST_F(RedirectPluginTest, CallToAUserWaitsForTheLookupThenRedirects) {
  FakeIncomingRequest call(RequestBuilder().method(Method::kInvite).uri("sip:U1@C1.D1.H1").build(),
                           context.manual_loop());
  EXPECT_EQ(redirect().on_request(call), Disposition::kSuspended);
  ASSERT_EQ(store.lookups.size(), 1u);
  EXPECT_EQ(store.lookups[0].first, "U1@C1.D1.H1");
  EXPECT_EQ(call.last_reply(), nullptr);

  Binding phone;
  phone.contact = "sip:U1@192.0.2.7:5060";
  phone.expires_at = 1'800'000'600;
  store.lookups[0].second(StoreStatus::kOk, {phone});
  ASSERT_NE(call.last_reply(), nullptr);
  EXPECT_EQ(call.last_reply()->status, 302);
  ASSERT_EQ(call.last_reply()->contacts.size(), 1u);
  EXPECT_EQ(call.last_reply()->contacts[0].uri, "sip:U1@192.0.2.7:5060");
}

TEST_F(RedirectPluginTest, ExpiredByTheLoopsClockIsUnavailable) {
  FakeIncomingRequest call(RequestBuilder().method(Method::kInvite).uri("sip:U1@C1.D1.H1").build(),
                           context.manual_loop());
  ASSERT_EQ(redirect().on_request(call), Disposition::kSuspended);
  Binding stale;
  stale.contact = "sip:U1@192.0.2.7:5060";
  stale.expires_at = 1'800'000'000;  // expires exactly now
  store.lookups.at(0).second(StoreStatus::kOk, {stale});
  ASSERT_NE(call.last_reply(), nullptr);
  EXPECT_EQ(call.last_reply()->status, 480);
}

TEST_F(RedirectPluginTest, RegisterOfAUserHerePassesToTheRegistrarAndStrangersGoUp) {
  FakeIncomingRequest mine(RequestBuilder::registration("U1@C1.D1.H1").contact("<sip:U1@192.0.2.7>").build(),
                           context.manual_loop());
  EXPECT_EQ(redirect().on_request(mine), Disposition::kContinue);
  FakeIncomingRequest elsewhere(RequestBuilder().method(Method::kMessage).uri("sip:U1@C1.D2.H1").build(),
                                context.manual_loop());
  EXPECT_EQ(redirect().on_request(elsewhere), Disposition::kHandled);
  ASSERT_NE(elsewhere.last_reply(), nullptr);
  EXPECT_EQ(elsewhere.last_reply()->status, 302);
  EXPECT_EQ(elsewhere.last_reply()->contacts.at(0).uri, "sip:D1@192.0.2.1:5060");
  EXPECT_TRUE(store.lookups.empty());
}
