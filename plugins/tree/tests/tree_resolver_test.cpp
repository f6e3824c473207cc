// TreeResolver on the test kit's FakeClient and ManualLoop: every OPTIONS it
// sends is recorded, and the test answers as the tree's servers would.
#include "tree_resolver.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "homesip/testkit/fake_context.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/request_builder.hpp"

namespace homesip::tree {
namespace {

using testkit::ResponseBuilder;

const std::string kTop = "sip:127.0.0.1:5110";
const std::string kD1 = "sip:D1@127.0.0.1:5120";
const std::string kH1 = "sip:H1@127.0.0.1:5130";
const std::string kD2 = "sip:D2@127.0.0.1:5220";
const std::string kH2 = "sip:H2@127.0.0.1:5230";

class TreeResolverTest : public ::testing::Test {
 protected:
  ResolverSettings settings() const {
    ResolverSettings s;
    s.top = kTop;
    s.from = "sip:H2@C1.D2";
    s.top_domain = "C1";
    s.cache_entries = 16;
    s.cache_ttl = std::chrono::seconds(60);
    s.max_hops = 8;
    return s;
  }
  void make(ResolverSettings s) { resolver = std::make_unique<TreeResolver>(client, std::move(s), log); }
  void SetUp() override { make(settings()); }

  // Starts a resolution whose answer lands in `result`.
  std::optional<Resolution>& resolve(const std::string& aor) {
    results.push_back(std::make_unique<std::optional<Resolution>>());
    auto* slot = results.back().get();
    resolver->resolve(loop, aor, [slot](const Resolution& r) {
      ASSERT_FALSE(slot->has_value()) << "called twice";
      *slot = r;
    });
    return *slot;
  }
  // Answers the last request sent with a 302 to `contacts`.
  void redirect(const std::vector<std::string>& contacts) {
    ResponseBuilder response(302, "Moved Temporarily");
    for (const std::string& c : contacts) response.contact(c);
    ASSERT_TRUE(client.answer(last(), *response.build()));
  }
  void answer(int status, const std::string& reason) {
    ASSERT_TRUE(client.answer(last(), *ResponseBuilder(status, reason).build()));
  }
  size_t last() const { return client.sent().size() - 1; }
  const OutgoingRequest& last_sent() const { return client.sent().back().request; }

  // U9@C1.D1.H1 through the top, D1 and H1: fills the cache with C1.D1 and C1.D1.H1.
  void resolve_u9_through_the_tree() {
    auto& result = resolve("U9@C1.D1.H1");
    redirect({"<" + kD1 + ">"});
    redirect({"<" + kH1 + ">"});
    redirect({"<sip:U9@127.0.0.1:40000>"});
    ASSERT_TRUE(result.has_value());
    ASSERT_EQ(result->status, 302);
  }

  testkit::ManualLoop loop;
  testkit::FakeClient client;
  testkit::FakeLogger log;
  std::unique_ptr<TreeResolver> resolver;
  std::vector<std::unique_ptr<std::optional<Resolution>>> results;
};

TEST_F(TreeResolverTest, FollowsTwoReferralsDownToTheUsersContacts) {
  auto& result = resolve("U9@C1.D1.H1");
  ASSERT_EQ(client.sent().size(), 1u);
  EXPECT_EQ(last_sent().method, "OPTIONS");
  EXPECT_EQ(last_sent().request_uri, "sip:U9@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kTop);
  EXPECT_EQ(last_sent().from, "sip:H2@C1.D2");

  redirect({"<" + kD1 + ">"});
  ASSERT_EQ(client.sent().size(), 2u);
  EXPECT_EQ(last_sent().next_hop, kD1);
  EXPECT_EQ(last_sent().request_uri, "sip:U9@C1.D1.H1");
  redirect({"<" + kH1 + ">"});
  ASSERT_EQ(client.sent().size(), 3u);
  EXPECT_EQ(last_sent().next_hop, kH1);
  EXPECT_FALSE(result.has_value());

  redirect({"<sip:U9@127.0.0.1:40000>;q=1.0", "<sip:U9@127.0.0.1:40001>;q=0.5"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 302);
  EXPECT_EQ(result->contacts, (std::vector<std::string>{"sip:U9@127.0.0.1:40000", "sip:U9@127.0.0.1:40001"}));
  EXPECT_EQ(result->family_server, kH1);
  EXPECT_EQ(result->path, (std::vector<std::string>{"C1=" + kTop, "C1.D1=" + kD1, "C1.D1.H1=" + kH1}));
  EXPECT_EQ(resolver->cached(), 2u);  // C1.D1 and C1.D1.H1
  EXPECT_EQ(client.sent().size(), 3u);
}

TEST_F(TreeResolverTest, ANameOfTheTopsOwnDomainIsAnsweredByTheTop) {
  auto& result = resolve("D1@C1");
  redirect({"<" + kD1 + ">"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 302);
  EXPECT_EQ(result->contacts, std::vector<std::string>{kD1});
  EXPECT_EQ(result->family_server, kTop);
}

TEST_F(TreeResolverTest, ACachedFamilyIsAskedDirectly) {
  resolve_u9_through_the_tree();
  auto& result = resolve("u2@c1.d1.h1");  // the cache ignores case, as the tree does
  ASSERT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(last_sent().next_hop, kH1);
  EXPECT_EQ(last_sent().request_uri, "sip:u2@c1.d1.h1");
  redirect({"<sip:u2@127.0.0.1:40002>"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 302);
  EXPECT_EQ(result->contacts, std::vector<std::string>{"sip:u2@127.0.0.1:40002"});
  EXPECT_EQ(result->path, std::vector<std::string>{"c1.d1.h1=" + kH1});
}

TEST_F(TreeResolverTest, TheDeepestCachedServerOnTheWayIsWhereAQueryStarts) {
  resolve_u9_through_the_tree();
  auto& result = resolve("U5@C1.D1.H7");  // C1.D1 is cached, C1.D1.H7 is not
  EXPECT_EQ(last_sent().next_hop, kD1);
  redirect({"<sip:H7@127.0.0.1:5170>"});
  EXPECT_EQ(last_sent().next_hop, "sip:H7@127.0.0.1:5170");
  redirect({"<sip:U5@127.0.0.1:40005>"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 302);
  EXPECT_EQ(result->family_server, "sip:H7@127.0.0.1:5170");
  EXPECT_EQ(resolver->cached(), 3u);
}

TEST_F(TreeResolverTest, ACachedServerIsAskedAgainFromTheTopAfterItsTtl) {
  resolve_u9_through_the_tree();
  loop.advance(std::chrono::seconds(59));
  resolve("U2@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kH1);  // still fresh
  redirect({"<sip:U2@127.0.0.1:40002>"});

  loop.advance(std::chrono::seconds(2));  // 61 s after it was learned
  resolve("U2@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kTop);
}

TEST_F(TreeResolverTest, TheCacheKeepsTheMostRecentlyUsedServersUpToItsBound) {
  ResolverSettings s = settings();
  s.cache_entries = 2;
  make(s);
  resolve_u9_through_the_tree();  // C1.D1, C1.D1.H1
  EXPECT_EQ(resolver->cached(), 2u);

  auto& other = resolve("U1@C1.D2.H2");  // learns C1.D2 and C1.D2.H2: both of D1's go
  EXPECT_EQ(last_sent().next_hop, kTop);
  redirect({"<" + kD2 + ">"});
  redirect({"<" + kH2 + ">"});
  redirect({"<sip:U1@127.0.0.1:41000>"});
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(resolver->cached(), 2u);

  resolve("U2@C1.D2.H2");
  EXPECT_EQ(last_sent().next_hop, kH2);
  redirect({"<sip:U2@127.0.0.1:41002>"});
  resolve("U9@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kTop);
}

TEST_F(TreeResolverTest, AServerUsedRecentlyOutlivesOneLearnedEarlier) {
  ResolverSettings s = settings();
  s.cache_entries = 2;
  make(s);
  resolve_u9_through_the_tree();  // learns C1.D1, then C1.D1.H1
  resolve("U5@C1.D1.H7");         // uses C1.D1, learns C1.D1.H7: C1.D1.H1 goes
  EXPECT_EQ(last_sent().next_hop, kD1);
  redirect({"<sip:H7@127.0.0.1:5170>"});
  redirect({"<sip:U5@127.0.0.1:40005>"});
  EXPECT_EQ(resolver->cached(), 2u);
  resolve("U2@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kD1);
}

TEST_F(TreeResolverTest, ACachedServerThatTimesOutIsForgottenAndTheTopAskedOnce) {
  resolve_u9_through_the_tree();
  auto& result = resolve("U2@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kH1);
  ASSERT_TRUE(client.time_out(last()));
  EXPECT_EQ(resolver->cached(), 1u);  // C1.D1.H1 is gone
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(last_sent().next_hop, kTop);
  const std::string h1_moved = "sip:H1@127.0.0.1:6130";
  redirect({"<" + kD1 + ">"});
  redirect({"<" + h1_moved + ">"});
  redirect({"<sip:U2@127.0.0.1:40002>"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 302);
  EXPECT_EQ(result->family_server, h1_moved);
  EXPECT_EQ(result->path, (std::vector<std::string>{"C1.D1.H1=" + kH1, "C1=" + kTop, "C1.D1=" + kD1,
                                                    "C1.D1.H1=" + h1_moved}));
}

TEST_F(TreeResolverTest, AServerFailingAfterTheRestartEndsTheQuery) {
  resolve_u9_through_the_tree();
  auto& result = resolve("U2@C1.D1.H1");
  ASSERT_TRUE(client.time_out(last()));  // cached H1
  redirect({"<" + kD1 + ">"});           // the top
  ASSERT_TRUE(client.answer(last(), *ResponseBuilder(503, "Service Unavailable").local().build()));  // D1
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 503);
  EXPECT_EQ(client.sent().size(), 6u);
  EXPECT_EQ(resolver->cached(), 0u);  // D1 failed too: C1.D1 and below are forgotten
}

TEST_F(TreeResolverTest, TheTopNotAnsweringEndsWithItsStatus) {
  auto& result = resolve("U9@C1.D1.H1");
  ASSERT_TRUE(client.answer(last(), *ResponseBuilder(503, "Cannot Send").local().build()));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 503);
  EXPECT_EQ(result->reason, "Cannot Send");
  EXPECT_EQ(client.sent().size(), 1u);

  auto& timed_out = resolve("U9@C1.D1.H1");
  ASSERT_TRUE(client.time_out(last()));
  ASSERT_TRUE(timed_out.has_value());
  EXPECT_EQ(timed_out->status, 408);
  EXPECT_EQ(client.sent().size(), 2u);
}

TEST_F(TreeResolverTest, AServerOfflineOnTheWayIs404) {
  auto& result = resolve("U9@C1.D1.H1");
  redirect({"<" + kD1 + ">"});
  answer(404, "Next Server Offline");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(result->reason, "Next Server Offline");
  EXPECT_TRUE(result->contacts.empty());
  EXPECT_TRUE(result->family_server.empty());
  EXPECT_EQ(result->path, (std::vector<std::string>{"C1=" + kTop, "C1.D1=" + kD1}));
}

TEST_F(TreeResolverTest, AUserWithoutBindingIs480) {
  auto& result = resolve("U9@C1.D1.H1");
  redirect({"<" + kD1 + ">"});
  redirect({"<" + kH1 + ">"});
  answer(480, "Temporarily Unavailable");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 480);
  EXPECT_TRUE(result->contacts.empty());
}

TEST_F(TreeResolverTest, MoreReferralsThanMaxHopsIs508) {
  ResolverSettings s = settings();
  s.max_hops = 2;
  make(s);
  auto& result = resolve("U1@C1.A.B.C.D");
  redirect({"<sip:A@127.0.0.1:6001>"});
  redirect({"<sip:B@127.0.0.1:6002>"});
  redirect({"<sip:C@127.0.0.1:6003>"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 508);
  EXPECT_EQ(client.sent().size(), 3u);
}

TEST_F(TreeResolverTest, AReferralWithoutASipContactIs502) {
  auto& no_contact = resolve("U9@C1.D1.H1");
  answer(302, "Moved Temporarily");
  ASSERT_TRUE(no_contact.has_value());
  EXPECT_EQ(no_contact->status, 502);

  auto& not_sip = resolve("U9@C1.D1.H1");
  redirect({"<tel:+4930123>"});
  ASSERT_TRUE(not_sip.has_value());
  EXPECT_EQ(not_sip->status, 502);
}

TEST_F(TreeResolverTest, ACachedServerReferringBackToTheTopIsForgotten) {
  resolve_u9_through_the_tree();
  auto& result = resolve("U2@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kH1);
  redirect({"<sip:X@127.0.0.1:5110>"});  // that address now serves elsewhere: "ask the top"
  EXPECT_EQ(last_sent().next_hop, kTop);
  redirect({"<" + kD1 + ">"});
  redirect({"<" + kH1 + ">"});
  redirect({"<sip:U2@127.0.0.1:40002>"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 302);
}

TEST_F(TreeResolverTest, AnInvalidNameIs404ThroughTheLoopWithoutAQuery) {
  auto& bad = resolve("not a name");
  auto& malformed = resolve("U1@C1..D1");
  auto& foreign = resolve("alice@example.org");
  auto& empty_label = resolve("light..kitchen@C1.D1.H1");
  EXPECT_FALSE(bad.has_value());  // never from inside resolve()
  EXPECT_FALSE(foreign.has_value());
  loop.run_pending();
  ASSERT_TRUE(bad.has_value() && malformed.has_value() && foreign.has_value() && empty_label.has_value());
  EXPECT_EQ(bad->status, 404);
  EXPECT_EQ(malformed->status, 404);
  EXPECT_EQ(foreign->status, 404);
  EXPECT_EQ(empty_label->status, 404);
  EXPECT_TRUE(client.sent().empty());
}

// An appliance's entity id has a dot in its user part: asked down the tree
// like a user's AOR, and the family server's answer (here the policy's 403
// to an outsider's lookup) is the phone's.
TEST_F(TreeResolverTest, AnEntityIdIsResolvedLikeAUser) {
  auto& result = resolve("light.kitchen@C1.D1.H1");
  ASSERT_EQ(client.sent().size(), 1u);
  EXPECT_EQ(last_sent().request_uri, "sip:light.kitchen@C1.D1.H1");
  EXPECT_EQ(last_sent().next_hop, kTop);
  redirect({"<" + kD1 + ">"});
  redirect({"<" + kH1 + ">"});
  EXPECT_EQ(last_sent().request_uri, "sip:light.kitchen@C1.D1.H1");
  answer(403, "Appliance Watching Not Permitted For Outside Callers");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, 403);
  EXPECT_EQ(result->reason, "Appliance Watching Not Permitted For Outside Callers");
  EXPECT_EQ(result->family_server, kH1);
  EXPECT_EQ(result->path, (std::vector<std::string>{"C1=" + kTop, "C1.D1=" + kD1, "C1.D1.H1=" + kH1}));
}

TEST_F(TreeResolverTest, ADestroyedResolverNeverCallsBack) {
  auto& in_flight = resolve("U9@C1.D1.H1");
  auto& posted = resolve("not a name");
  resolver.reset();
  EXPECT_FALSE(client.answer(0, *ResponseBuilder(302).contact("<" + kD1 + ">").build()));
  loop.run_pending();
  EXPECT_FALSE(in_flight.has_value());
  EXPECT_FALSE(posted.has_value());
}

TEST_F(TreeResolverTest, ForgetDropsADomainAndEverythingBelowIt) {
  resolve_u9_through_the_tree();
  resolver->forget("C1.D");  // a prefix of a label is another domain
  EXPECT_EQ(resolver->cached(), 2u);
  resolver->forget("c1.d1.h1");
  EXPECT_EQ(resolver->cached(), 1u);
  resolver->forget("C1.D1");
  EXPECT_EQ(resolver->cached(), 0u);
}

}  // namespace
}  // namespace homesip::tree
