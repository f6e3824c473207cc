// The tree plugin on the SDK test kit, created through its descriptor: the
// service it offers, redirects (to the top for other families), requests
// addressed to the server itself, liveness of child servers, the upward
// registration, phones' requests, commands and metrics.
#include <gtest/gtest.h>

#include "homesip/homesip.hpp"
#include "homesip/testkit/testkit.hpp"
#include "memory_store.hpp"
#include "tree_commands.hpp"

using namespace homesip;
using namespace homesip::testkit;
using namespace std::chrono_literals;

extern "C" const PluginDescriptor* homesip_plugin_descriptor();

namespace {

const std::string kTop = "sip:127.0.0.1:5110";

struct TreePluginTest : ::testing::Test {
  tree::test::MemoryStore store;
  FakePluginContext context{*homesip_plugin_descriptor(), {{"name", "D1"}, {"domain", "C1"}, {"top", kTop}}};
  std::unique_ptr<Plugin> plugin;

  void SetUp() override {
    store.hold_lookups = true;
    context.add_service<LocationStore>(store);
    context.set_listener("udp", "127.0.0.1", 5120);
    context.manual_loop().set_unix_now(1'800'000'000);
    plugin = context.create_plugin();
  }
  RequestHandler& tree() { return *context.handlers().at(0).handler; }
  FakeIncomingRequest incoming(const RequestBuilder& builder) {
    return FakeIncomingRequest(builder.build(), context.manual_loop());
  }
  std::vector<size_t> sent(const std::string& method) {
    std::vector<size_t> out;
    for (size_t i = 0; i < context.fake_client().sent().size(); ++i)
      if (context.fake_client().sent()[i].request.method == method) out.push_back(i);
    return out;
  }
  Binding binding(const std::string& contact) {
    Binding b;
    b.contact = contact;
    b.expires_at = 1'800'000'600;
    return b;
  }
};

}  // namespace

TEST_F(TreePluginTest, OffersWhereThisServerStandsAndRoutesBeforeTheRegistrar) {
  EXPECT_STREQ(homesip_plugin_descriptor()->name, "tree");
  EXPECT_STREQ(homesip_plugin_descriptor()->version, "3.0.0");
  TreeService* service = context.find<TreeService>();
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->self().aor(), "D1@C1");
  EXPECT_EQ(service->self().child_domain(), "C1.D1");
  EXPECT_EQ(context.handlers().at(0).placement.phase, Phase::kRouting);
  EXPECT_EQ(context.handlers().at(0).name, "tree");
}

TEST_F(TreePluginTest, CallToAUserWaitsForTheLookupThenRedirects) {
  auto call = incoming(RequestBuilder().method(Method::kInvite).uri("sip:U1@C1.D1.H1"));
  EXPECT_EQ(tree().on_request(call), Disposition::kSuspended);
  ASSERT_EQ(store.held.size(), 1u);
  EXPECT_EQ(store.held[0].first, "H1@C1.D1");
  EXPECT_EQ(call.last_reply(), nullptr);
  store.held[0].second(StoreStatus::kOk, {binding("sip:H1@127.0.0.1:5130")});
  ASSERT_NE(call.last_reply(), nullptr);
  EXPECT_EQ(call.last_reply()->status, 302);
  EXPECT_EQ(call.last_reply()->contacts.at(0).uri, "sip:H1@127.0.0.1:5130");
  EXPECT_EQ(context.counter_value("redirects_total"), 1u);
}

TEST_F(TreePluginTest, ExpiredByTheLoopsClockIsUnavailable) {
  auto call = incoming(RequestBuilder().method(Method::kInvite).uri("sip:U9@C1.D1"));
  ASSERT_EQ(tree().on_request(call), Disposition::kSuspended);
  Binding stale = binding("sip:U9@192.0.2.7:5060");
  stale.expires_at = 1'800'000'000;  // expires exactly now
  store.held.at(0).second(StoreStatus::kOk, {stale});
  ASSERT_NE(call.last_reply(), nullptr);
  EXPECT_EQ(call.last_reply()->status, 480);
}

TEST_F(TreePluginTest, OtherFamiliesGoToTheTopAndMyUsersRegisterHere) {
  auto mine = incoming(RequestBuilder::registration("U9@C1.D1").contact("<sip:U9@192.0.2.7>"));
  EXPECT_EQ(tree().on_request(mine), Disposition::kContinue);
  auto elsewhere = incoming(RequestBuilder().method(Method::kMessage).uri("sip:U1@C1.D2.H1"));
  EXPECT_EQ(tree().on_request(elsewhere), Disposition::kHandled);
  ASSERT_NE(elsewhere.last_reply(), nullptr);
  EXPECT_EQ(elsewhere.last_reply()->status, 302);
  ASSERT_EQ(elsewhere.last_reply()->contacts.size(), 1u);
  EXPECT_EQ(elsewhere.last_reply()->contacts[0].uri, kTop);
  auto reg_elsewhere = incoming(RequestBuilder::registration("U1@C1.D2.H1").contact("<sip:U1@192.0.2.7>"));
  tree().on_request(reg_elsewhere);
  EXPECT_EQ(reg_elsewhere.last_reply()->status, 404);  // a REGISTER is never sent up
  EXPECT_TRUE(store.held.empty());
}

TEST(TreePluginAtTheTop, NamesOutsideTheTreeAre404) {
  tree::test::MemoryStore store;
  FakePluginContext context(*homesip_plugin_descriptor(), {{"name", "C1"}});
  context.add_service<LocationStore>(store);
  auto plugin = context.create_plugin();
  FakeIncomingRequest call(RequestBuilder().method(Method::kInvite).uri("sip:U1@C9.D1.H1").build(),
                           context.manual_loop());
  EXPECT_EQ(context.handlers().at(0).handler->on_request(call), Disposition::kHandled);
  EXPECT_EQ(call.last_reply()->status, 404);
  EXPECT_EQ(context.find<TreeService>()->self().child_domain(), "C1");
  plugin->start();
  EXPECT_TRUE(context.fake_client().sent().empty());  // the top registers nowhere
}

// A plain RFC 3261 client followed a 302 to D1: its Request-URI is D1's
// contact, its To still the callee (8.1.3.4).
TEST_F(TreePluginTest, ARequestAddressedToMeIsDecidedByItsTo) {
  auto followed =
      incoming(RequestBuilder().method(Method::kInvite).uri("sip:D1@127.0.0.1:5120").to("sip:U1@C1.D1.H1"));
  EXPECT_EQ(tree().on_request(followed), Disposition::kSuspended);
  ASSERT_EQ(store.held.size(), 1u);
  EXPECT_EQ(store.held[0].first, "H1@C1.D1");
  store.held[0].second(StoreStatus::kOk, {binding("sip:H1@127.0.0.1:5130")});
  EXPECT_EQ(followed.last_reply()->status, 302);
  EXPECT_EQ(followed.last_reply()->contacts.at(0).uri, "sip:H1@127.0.0.1:5130");

  auto other_family =
      incoming(RequestBuilder().method(Method::kInvite).uri("sip:127.0.0.1:5120").to("sip:U1@C1.D2.H1"));
  EXPECT_EQ(tree().on_request(other_family), Disposition::kHandled);
  EXPECT_EQ(other_family.last_reply()->contacts.at(0).uri, kTop);

  // To names me too (a keepalive, a ping): the core answers.
  auto ping = incoming(
      RequestBuilder().method(Method::kOptions).uri("sip:D1@127.0.0.1:5120").to("sip:D1@127.0.0.1:5120"));
  EXPECT_EQ(tree().on_request(ping), Disposition::kContinue);
  auto by_aor = incoming(RequestBuilder().method(Method::kOptions).uri("sip:D1@C1").to("sip:D1@C1"));
  EXPECT_EQ(tree().on_request(by_aor), Disposition::kContinue);

  // Another port is another server: judged by the Request-URI (not a tree name here).
  auto not_me =
      incoming(RequestBuilder().method(Method::kInvite).uri("sip:D1@127.0.0.1:5999").to("sip:U1@C1.D1.H1"));
  EXPECT_EQ(tree().on_request(not_me), Disposition::kHandled);
  EXPECT_EQ(not_me.last_reply()->contacts.at(0).uri, kTop);
  EXPECT_EQ(store.held.size(), 1u);
}

TEST_F(TreePluginTest, RegistersUpwardFromStartAndSaysGoodbyeOnStop) {
  plugin->start();
  const std::vector<size_t> registers = sent("REGISTER");
  ASSERT_EQ(registers.size(), 1u);
  const auto& first = context.fake_client().sent()[registers[0]].request;
  EXPECT_EQ(first.request_uri, kTop);
  EXPECT_EQ(first.to, "<sip:D1@C1>");
  const auto header = [&](std::string_view name) {
    for (const auto& [n, v] : first.headers)
      if (n == name) return v;
    return std::string("<none>");
  };
  EXPECT_EQ(header("Contact"), "<sip:D1@127.0.0.1:5120>");  // contact_uri(name)
  EXPECT_EQ(header("Expires"), "120");
  EXPECT_EQ(header("User-Agent").rfind("homesipd/", 0), 0u);
  context.fake_client().answer(registers[0], *ResponseBuilder(200).build());

  plugin->stop();
  const std::vector<size_t> after = sent("REGISTER");
  ASSERT_EQ(after.size(), 2u);
  for (const auto& [n, v] : context.fake_client().sent()[after[1]].request.headers) {
    if (n == "Expires") {
      EXPECT_EQ(v, "0");  // the goodbye
    }
  }
}

TEST_F(TreePluginTest, AnOfflineChildsSubtreeIs404AtOnceUntilItAnswers) {
  store.hold_lookups = false;
  store.bind("H1@C1.D1", "sip:H1@127.0.0.1:5130", "homesipd/0.1.0");
  plugin->start();
  ManualLoop& loop = context.manual_loop();
  for (int round = 0; round < 3; ++round) {
    loop.advance(5s);
    ASSERT_FALSE(sent("OPTIONS").empty());
    ASSERT_TRUE(context.fake_client().time_out(sent("OPTIONS").back()));
  }
  EXPECT_EQ(context.counter_value("keepalive_failures_total"), 3u);
  EXPECT_EQ(context.gauge_value("children_online"), 0);
  const int lookups = store.lookups;
  EXPECT_TRUE(context.fake_logger().contains("warn: child server H1@C1.D1 is offline"));

  auto reg = incoming(RequestBuilder::registration("U1@C1.D1.H1").contact("<sip:U1@192.0.2.7>"));
  EXPECT_EQ(tree().on_request(reg), Disposition::kHandled);
  EXPECT_EQ(reg.last_reply()->status, 404);
  EXPECT_EQ(reg.last_reply()->reason, "Next Server Offline");
  auto call = incoming(RequestBuilder().method(Method::kInvite).uri("sip:U1@C1.D1.H1"));
  tree().on_request(call);
  EXPECT_EQ(call.last_reply()->status, 404);
  EXPECT_EQ(store.lookups, lookups);  // no store lookup

  // H1 restarts and registers again (its User-Agent says it is a server).
  auto back = incoming(RequestBuilder::registration("H1@C1.D1")
                           .contact("<sip:H1@127.0.0.1:5130>")
                           .expires(120)
                           .user_agent("homesipd/0.1.0"));
  EXPECT_EQ(tree().on_request(back), Disposition::kContinue);  // the registrar binds it
  EXPECT_EQ(context.gauge_value("children_online"), 1);
  auto again = incoming(RequestBuilder::registration("U1@C1.D1.H1").contact("<sip:U1@192.0.2.7>"));
  EXPECT_EQ(tree().on_request(again), Disposition::kSuspended);
  EXPECT_TRUE(context.fake_logger().contains("info: child server H1@C1.D1 is online again"));
}

TEST_F(TreePluginTest, TreeCommandShowsPlaceParentAndChildren) {
  store.hold_lookups = false;
  store.bind("H1@C1.D1", "sip:H1@127.0.0.1:5130", "homesipd/0.1.0");
  plugin->start();
  CommandResult before = context.run_command("tree");
  ASSERT_TRUE(before.ok) << before.text;
  EXPECT_NE(before.text.find("\"parent\":null"), std::string::npos) << before.text;
  EXPECT_NE(before.text.find("\"registration\":\"registering\""), std::string::npos) << before.text;
  context.fake_client().answer(
      sent("REGISTER")[0], *ResponseBuilder(302).contact("<sip:C1@127.0.0.1:5110;transport=udp>").build());
  context.fake_client().answer(sent("REGISTER")[1], *ResponseBuilder(200).build());
  const CommandResult result = context.run_command("tree");
  ASSERT_TRUE(result.ok);
  const std::string since = std::to_string(context.manual_loop().unix_now());
  EXPECT_EQ(result.text,
            "{\"name\":\"D1\",\"aor\":\"D1@C1\",\"domain\":\"C1\",\"child_domain\":\"C1.D1\",\"top\":\"" +
                kTop +
                "\",\"parent\":\"sip:C1@127.0.0.1:5110;transport=udp\",\"registration\":\"registered\","
                "\"children\":[{\"aor\":\"H1@C1.D1\",\"contact\":\"sip:H1@127.0.0.1:5130\",\"online\":true,"
                "\"since\":" +
                since + ",\"misses\":0}]}");
}

TEST_F(TreePluginTest, LocateAnswersJsonOrSaysHowToUseIt) {
  const CommandResult usage = context.run_command("locate");
  ASSERT_TRUE(usage.answered);
  EXPECT_FALSE(usage.ok);
  EXPECT_NE(usage.text.find("locate AOR"), std::string::npos);
  const CommandResult invalid = context.run_command("locate", {"U.1@C1..D1"});
  ASSERT_TRUE(invalid.ok) << invalid.text;
  EXPECT_NE(invalid.text.find("\"status\":404"), std::string::npos) << invalid.text;
  EXPECT_NE(invalid.text.find("\"baresip\":null"), std::string::npos) << invalid.text;
}

TEST(LocateJson, GivesThePhonesTheirFamilyServer) {
  tree::Resolution r;
  r.status = 302;
  r.reason = "Moved Temporarily";
  r.contacts = {"sip:U1@192.0.2.7:5060"};
  r.family_server = "sip:H1@127.0.0.1:5130";
  r.path = {"C1=sip:127.0.0.1:5110", "C1.D1=sip:D1@127.0.0.1:5120", "C1.D1.H1=sip:H1@127.0.0.1:5130"};
  EXPECT_EQ(tree::locate_json("U1@C1.D1.H1", r),
            "{\"aor\":\"U1@C1.D1.H1\",\"status\":302,\"reason\":\"Moved Temporarily\","
            "\"path\":[\"C1=sip:127.0.0.1:5110\",\"C1.D1=sip:D1@127.0.0.1:5120\",\"C1.D1.H1=sip:H1@127.0.0.1:"
            "5130\"],"
            "\"family_server\":\"sip:H1@127.0.0.1:5130\",\"contacts\":[\"sip:U1@192.0.2.7:5060\"],"
            "\"baresip\":\"<sip:U1@C1.D1.H1>;outbound=\\\"sip:127.0.0.1:5130\\\";regint=600\","
            "\"linphone\":{\"reg_proxy\":\"<sip:127.0.0.1:5130>\",\"reg_route\":\"<sip:127.0.0.1:5130;lr>\","
            "\"reg_identity\":\"sip:U1@C1.D1.H1\"}}");
  EXPECT_EQ(tree::proxy_uri("sip:H1@192.0.2.5:5060;transport=tcp"), "sip:192.0.2.5:5060;transport=tcp");
  // What came from the wire is escaped, and bytes that are not UTF-8 are replaced, not thrown.
  tree::Resolution odd;
  odd.status = 404;
  odd.reason = "a\"b\\c\n\x01\xff";
  EXPECT_EQ(tree::locate_json("U1@C1.D1.H1", odd),
            "{\"aor\":\"U1@C1.D1.H1\",\"status\":404,\"reason\":\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\","
            "\"path\":[],\"family_server\":\"\",\"contacts\":[],\"baresip\":null,\"linphone\":null}");
}

TEST_F(TreePluginTest, APhonesRequestRoutedHereIsForwardedAndCounted) {
  store.hold_lookups = false;
  store.bind("U9@C1.D1", "sip:U9@192.0.2.9:5060");
  auto call = incoming(RequestBuilder().method(Method::kInvite).uri("sip:U9@C1.D1").routed_here());
  const Disposition d = tree().on_request(call);
  context.manual_loop().run_pending();
  EXPECT_NE(d, Disposition::kContinue);
  ASSERT_NE(call.last_forward(), nullptr);
  EXPECT_EQ(*call.last_forward(), "sip:U9@192.0.2.9:5060");
  EXPECT_EQ(context.counter_value("forwarded_total"), 1u);
  // The phone's REGISTER is judged like any other (the registrar binds it).
  auto reg = incoming(RequestBuilder::registration("U9@C1.D1").contact("<sip:U9@192.0.2.9>").routed_here());
  EXPECT_EQ(tree().on_request(reg), Disposition::kContinue);
}

// A user reached only on the connection it registered over (TLS here): a call
// sent to this server is forwarded there, not redirected where the caller
// cannot go; a server's OPTIONS lookup for the user gets the AOR with a
// Route to this server's own listener embedded.
TEST_F(TreePluginTest, AUserOnAFlowIsCalledThroughThisServer) {
  Binding on_tls = binding("sip:U9-x@192.0.2.9:5071;transport=tls");
  on_tls.source = "tls:192.0.2.9:40112";
  auto call = incoming(RequestBuilder().method(Method::kInvite).uri("sip:U9@C1.D1"));
  ASSERT_EQ(tree().on_request(call), Disposition::kSuspended);
  store.held.at(0).second(StoreStatus::kOk, {on_tls});
  EXPECT_EQ(call.last_reply(), nullptr);
  ASSERT_NE(call.last_forward(), nullptr);
  EXPECT_EQ(*call.last_forward(), on_tls.contact);
  EXPECT_EQ(call.forward_flows(), (std::vector<std::string>{"tls:192.0.2.9:40112"}));
  EXPECT_EQ(context.counter_value("forwarded_total"), 1u);

  auto lookup = incoming(RequestBuilder().method(Method::kOptions).uri("sip:U9@C1.D1"));
  ASSERT_EQ(tree().on_request(lookup), Disposition::kSuspended);
  store.held.at(1).second(StoreStatus::kOk, {on_tls});
  ASSERT_NE(lookup.last_reply(), nullptr);
  EXPECT_EQ(lookup.last_reply()->status, 302);
  EXPECT_EQ(lookup.last_reply()->contacts.at(0).uri, "sip:U9@C1.D1?Route=%3Csip:127.0.0.1:5120%3Blr%3E");
  EXPECT_TRUE(lookup.forwards().empty());
}
