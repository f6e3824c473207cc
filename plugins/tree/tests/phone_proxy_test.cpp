// PhoneProxy with the test kit's requests: a family server H1@C1.D1 that its
// phones use as outbound proxy. Its users' bindings are in a store kept in
// memory; everyone else is resolved through the tree on a FakeClient.
#include "phone_proxy.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "homesip/testkit/fake_context.hpp"
#include "homesip/testkit/fake_incoming.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/request_builder.hpp"
#include "homesip/testkit/store_harness.hpp"

namespace homesip::tree {
namespace {

using testkit::FakeIncomingRequest;
using testkit::RequestBuilder;
using testkit::ResponseBuilder;

const std::string kTop = "sip:127.0.0.1:5110";

// Bindings by AOR, answered at once (as a store answering from memory may).
class MemoryStore final : public LocationStore {
 public:
  void update(std::string_view, BindingEditor, UpdateDone done) override { done(StoreStatus::kError, {}); }
  void lookup(std::string_view aor, LookupDone done) override {
    ++lookups;
    const auto it = bindings.find(std::string(aor));
    done(status, it == bindings.end() || status != StoreStatus::kOk ? BindingList{} : it->second);
  }
  void list_aors(std::string_view, ListDone done) override { done(StoreStatus::kError, {}); }

  std::map<std::string, BindingList> bindings;
  StoreStatus status = StoreStatus::kOk;
  int lookups = 0;
};

class PhoneProxyTest : public ::testing::Test {
 protected:
  static ResolverSettings settings() {
    ResolverSettings s;
    s.top = kTop;
    s.from = "sip:H1@C1.D1";
    s.top_domain = "C1";
    return s;
  }

  // A request from one of H1's phones that named H1 in its Route.
  static RequestBuilder from_phone(Method method, const std::string& request_uri) {
    RequestBuilder builder;
    builder.method(method)
        .uri(request_uri)
        .from("sip:U1@C1.D1.H1")
        .to(request_uri)
        .source("udp", "127.0.0.1", 40001)
        .routed_here();
    return builder;
  }
  std::unique_ptr<FakeIncomingRequest> incoming(const RequestBuilder& builder) {
    return std::make_unique<FakeIncomingRequest>(builder.build(), loop);
  }
  // Answers the resolver's last OPTIONS with a 302 to `contact`.
  void redirect(const std::string& contact) {
    ASSERT_FALSE(client.sent().empty());
    ASSERT_TRUE(
        client.answer(client.sent().size() - 1, *ResponseBuilder(302).contact("<" + contact + ">").build()));
  }

  ServerIdentity me{"H1", "C1.D1"};
  testkit::ManualLoop loop;
  testkit::FakeClient client;
  testkit::FakeLogger log;
  MemoryStore store;
  TreeResolver resolver{client, settings(), log};
  PhoneProxy proxy{me, store, resolver, log};
};

TEST_F(PhoneProxyTest, AUserOfTheFamilyGetsTheRequestAtItsBestBinding) {
  store.bindings["U2@C1.D1.H1"] = {testkit::make_binding("sip:U2@127.0.0.1:40002", 600, 500),
                                   testkit::make_binding("sip:U2@127.0.0.1:40003", 600, 1000)};
  auto request = incoming(from_phone(Method::kInvite, "sip:U2@C1.D1.H1"));
  EXPECT_EQ(proxy.on_request(*request), Disposition::kSuspended);
  ASSERT_NE(request->last_forward(), nullptr);
  EXPECT_EQ(*request->last_forward(), "sip:U2@127.0.0.1:40003");
  EXPECT_EQ(request->forward_flows(), (std::vector<std::string>{""}));  // over UDP: no flow
  EXPECT_TRUE(request->replies().empty());
  EXPECT_TRUE(client.sent().empty());  // no query through the tree for a user of mine
}

TEST_F(PhoneProxyTest, AUserBehindNatIsReachedWhereItsRegisterCameFrom) {
  Binding behind_nat = testkit::make_binding("sip:U2@192.168.1.20:5060", 600);
  behind_nat.source = "udp:203.0.113.5:40312";
  store.bindings["U2@C1.D1.H1"] = {behind_nat};
  auto request = incoming(from_phone(Method::kInvite, "sip:U2@C1.D1.H1"));
  proxy.on_request(*request);
  ASSERT_NE(request->last_forward(), nullptr);
  EXPECT_EQ(*request->last_forward(), "sip:U2@203.0.113.5:40312");
}

// A phone registered over TLS is sent the request on its connection (its
// flow, the binding's source), at the Contact it registered.
TEST_F(PhoneProxyTest, AUserOnATlsConnectionGetsTheRequestOnItsFlow) {
  Binding over_tls = testkit::make_binding("sip:U2-x@127.0.0.1:5071;transport=tls", 600);
  over_tls.source = "tls:127.0.0.1:40112";
  Binding over_udp = testkit::make_binding("sip:U2@127.0.0.1:40003", 600, 500);
  store.bindings["U2@C1.D1.H1"] = {over_udp, over_tls};
  auto request = incoming(from_phone(Method::kInvite, "sip:U2@C1.D1.H1"));
  EXPECT_EQ(proxy.on_request(*request), Disposition::kSuspended);
  ASSERT_NE(request->last_forward(), nullptr);
  EXPECT_EQ(*request->last_forward(), "sip:U2-x@127.0.0.1:5071;transport=tls");
  EXPECT_EQ(request->forward_flows(), (std::vector<std::string>{"tls:127.0.0.1:40112"}));
  EXPECT_TRUE(request->replies().empty());
}

TEST_F(PhoneProxyTest, AUserWithoutAnUnexpiredBindingIs480) {
  store.bindings["U2@C1.D1.H1"] = {testkit::make_binding("sip:U2@127.0.0.1:40002", -1)};
  auto request = incoming(from_phone(Method::kMessage, "sip:U2@C1.D1.H1"));
  EXPECT_EQ(proxy.on_request(*request), Disposition::kSuspended);
  ASSERT_NE(request->last_reply(), nullptr);
  EXPECT_EQ(request->last_reply()->status, 480);
  EXPECT_TRUE(request->forwards().empty());
}

TEST_F(PhoneProxyTest, AStoreThatIsDownIs503WithRetryAfter) {
  store.status = StoreStatus::kUnavailable;
  auto request = incoming(from_phone(Method::kInvite, "sip:U2@C1.D1.H1"));
  proxy.on_request(*request);
  ASSERT_NE(request->last_reply(), nullptr);
  EXPECT_EQ(request->last_reply()->status, 503);
  ASSERT_EQ(request->last_reply()->headers.size(), 1u);
  EXPECT_EQ(request->last_reply()->headers[0], (std::pair<std::string, std::string>{"Retry-After", "5"}));
}

TEST_F(PhoneProxyTest, AUserOfAnotherFamilyIsResolvedThroughTheTreeThenForwarded) {
  auto request = incoming(from_phone(Method::kInvite, "sip:U9@C1.D2.H2"));
  EXPECT_EQ(proxy.on_request(*request), Disposition::kSuspended);
  ASSERT_EQ(client.sent().size(), 1u);
  EXPECT_EQ(client.sent()[0].request.method, "OPTIONS");
  EXPECT_EQ(client.sent()[0].request.request_uri, "sip:U9@C1.D2.H2");
  EXPECT_EQ(client.sent()[0].request.next_hop, kTop);
  redirect("sip:D2@127.0.0.1:5220");
  redirect("sip:H2@127.0.0.1:5230");
  EXPECT_TRUE(request->forwards().empty());
  redirect("sip:U9@127.0.0.1:40009");
  ASSERT_NE(request->last_forward(), nullptr);
  EXPECT_EQ(*request->last_forward(), "sip:U9@127.0.0.1:40009");
  EXPECT_TRUE(request->replies().empty());
  EXPECT_EQ(store.lookups, 0);

  // The ACK of a failure and a CANCEL take the same way, now from the cache.
  auto cancel = incoming(from_phone(Method::kCancel, "sip:U9@C1.D2.H2"));
  proxy.on_request(*cancel);
  EXPECT_EQ(client.sent().back().request.next_hop, "sip:H2@127.0.0.1:5230");
  redirect("sip:U9@127.0.0.1:40009");
  ASSERT_NE(cancel->last_forward(), nullptr);
  EXPECT_EQ(*cancel->last_forward(), "sip:U9@127.0.0.1:40009");
}

TEST_F(PhoneProxyTest, ACalleeTheTreeCannotReachGetsTheTreesAnswer) {
  auto offline = incoming(from_phone(Method::kInvite, "sip:U9@C1.D2.H2"));
  proxy.on_request(*offline);
  ASSERT_TRUE(client.answer(0, *ResponseBuilder(404, "Next Server Offline").build()));
  ASSERT_NE(offline->last_reply(), nullptr);
  EXPECT_EQ(offline->last_reply()->status, 404);
  EXPECT_EQ(offline->last_reply()->reason, "Next Server Offline");

  auto top_down = incoming(from_phone(Method::kInvite, "sip:U9@C1.D2.H2"));
  proxy.on_request(*top_down);
  ASSERT_TRUE(client.answer(1, *ResponseBuilder(503, "Service Unavailable").local().build()));
  ASSERT_NE(top_down->last_reply(), nullptr);
  EXPECT_EQ(top_down->last_reply()->status, 503);
  ASSERT_EQ(top_down->last_reply()->headers.size(), 1u);
  EXPECT_EQ(top_down->last_reply()->headers[0].first, "Retry-After");
  EXPECT_TRUE(top_down->forwards().empty());
}

TEST_F(PhoneProxyTest, NoHopsLeftIs483AndAnAckIsDropped) {
  auto invite = incoming(from_phone(Method::kInvite, "sip:U2@C1.D1.H1").max_forwards(0));
  EXPECT_EQ(proxy.on_request(*invite), Disposition::kHandled);
  ASSERT_NE(invite->last_reply(), nullptr);
  EXPECT_EQ(invite->last_reply()->status, 483);
  EXPECT_TRUE(invite->forwards().empty());

  auto ack = incoming(from_phone(Method::kAck, "sip:U2@127.0.0.1:40002").max_forwards(0));
  EXPECT_EQ(proxy.on_request(*ack), Disposition::kHandled);
  EXPECT_TRUE(ack->replies().empty());
  EXPECT_TRUE(ack->forwards().empty());
  EXPECT_EQ(store.lookups, 0);
}

TEST_F(PhoneProxyTest, AContactAddressInsideADialogIsForwardedAsItIs) {
  auto ack = incoming(from_phone(Method::kAck, "sip:U9@127.0.0.1:40009;transport=udp"));
  EXPECT_EQ(proxy.on_request(*ack), Disposition::kHandled);
  ASSERT_NE(ack->last_forward(), nullptr);
  EXPECT_EQ(*ack->last_forward(), "sip:U9@127.0.0.1:40009;transport=udp");

  auto bye = incoming(from_phone(Method::kBye, "sip:10.0.0.7:5060"));
  EXPECT_EQ(proxy.on_request(*bye), Disposition::kHandled);
  ASSERT_NE(bye->last_forward(), nullptr);
  EXPECT_EQ(*bye->last_forward(), "sip:10.0.0.7:5060");
  EXPECT_TRUE(bye->replies().empty());
  EXPECT_TRUE(client.sent().empty());
}

TEST_F(PhoneProxyTest, AForeignDomainIsForwardedAsItIs) {
  auto invite = incoming(from_phone(Method::kInvite, "sip:alice@example.org"));
  EXPECT_EQ(proxy.on_request(*invite), Disposition::kHandled);
  ASSERT_NE(invite->last_forward(), nullptr);
  EXPECT_EQ(*invite->last_forward(), "sip:alice@example.org");
  EXPECT_TRUE(client.sent().empty());
}

TEST_F(PhoneProxyTest, TheServerItselfIsNoUser) {
  auto invite = incoming(from_phone(Method::kInvite, "sip:H1@C1.D1"));
  EXPECT_EQ(proxy.on_request(*invite), Disposition::kHandled);
  ASSERT_NE(invite->last_reply(), nullptr);
  EXPECT_EQ(invite->last_reply()->status, 404);
  EXPECT_EQ(invite->last_reply()->reason, "Not A User");

  auto options = incoming(from_phone(Method::kOptions, "sip:h1@c1.d1"));
  EXPECT_EQ(proxy.on_request(*options), Disposition::kHandled);
  ASSERT_NE(options->last_reply(), nullptr);
  EXPECT_EQ(options->last_reply()->status, 200);
  EXPECT_TRUE(options->forwards().empty());
}

TEST_F(PhoneProxyTest, AMalformedTreeNameIs404) {
  auto invite = incoming(from_phone(Method::kInvite, "sip:U1@C1..D1"));
  EXPECT_EQ(proxy.on_request(*invite), Disposition::kHandled);
  ASSERT_NE(invite->last_reply(), nullptr);
  EXPECT_EQ(invite->last_reply()->status, 404);
  EXPECT_TRUE(invite->forwards().empty());
  EXPECT_TRUE(client.sent().empty());
  EXPECT_EQ(store.lookups, 0);
}

}  // namespace
}  // namespace homesip::tree
