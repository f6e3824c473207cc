// decide() and answer_lookup(): every answer of the redirect server, without
// a SIP stack or a store.
#include "redirect_rules.hpp"

#include <gtest/gtest.h>

#include "homesip/settings.hpp"

using namespace homesip;
using namespace homesip::redirect;

namespace {

const ServerIdentity kD1{"D1", "C1"};
const RedirectPolicy kPolicy{"", {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS"}};
const RedirectPolicy kBelowTop{"sip:192.0.2.1:5110", {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS"}};

RequestFacts facts(Method method, std::string_view name, std::string_view user, std::string_view host,
                   uint32_t max_forwards = 70) {
  RequestFacts f;
  f.method = method;
  f.method_name = name;
  f.target.scheme = "sip";
  f.target.user = user;
  f.target.host = host;
  f.max_forwards = max_forwards;
  return f;
}
RequestFacts reg(std::string_view user, std::string_view host, uint32_t mf = 70) {
  return facts(Method::kRegister, "REGISTER", user, host, mf);
}
RequestFacts invite(std::string_view user, std::string_view host, uint32_t mf = 70) {
  return facts(Method::kInvite, "INVITE", user, host, mf);
}

Binding binding(std::string contact, uint16_t q, int64_t expires_at = 2000) {
  Binding b;
  b.contact = std::move(contact);
  b.q_millis = q;
  b.expires_at = expires_at;
  return b;
}

}  // namespace

// --- REGISTER (paper STEP 2/4) -------------------------------------------

TEST(Register, DirectChildGoesOnToTheRegistrar) {
  EXPECT_EQ(decide(kD1, kPolicy, reg("H1", "C1.D1")).action, Action::kContinue);
  EXPECT_EQ(decide(kD1, kPolicy, reg("U9", "c1.d1")).action, Action::kContinue);
}

TEST(Register, SubtreeLooksUpTheChildServer) {
  const Decision d = decide(kD1, kPolicy, reg("U1", "C1.D1.H1"));
  EXPECT_EQ(d.action, Action::kLookup);
  EXPECT_EQ(d.lookup_aor, "H1@C1.D1");
  EXPECT_EQ(d.target, LookupTarget::kNextServer);
}

TEST(Register, OutsideMySubtreeIs404) {
  for (auto [user, host] : {std::pair{"U1", "C1.D2.H1"}, {"D2", "C1"}, {"D1", "C1"}, {"U1", "127.0.0.1"}}) {
    const Decision d = decide(kD1, kPolicy, reg(user, host));
    EXPECT_EQ(d.action, Action::kReply) << user << "@" << host;
    EXPECT_EQ(d.reply.status, 404) << user << "@" << host;
  }
}

TEST(Register, TheTopDoesNotApplyToRegister) {
  EXPECT_EQ(decide(kD1, kBelowTop, reg("U1", "C1.D2.H1")).reply.status, 404);
}

TEST(Register, InvalidNameIs404) {
  const Decision d = decide(kD1, kPolicy, reg("U 1", "C1.D1.H1"));
  EXPECT_EQ(d.action, Action::kReply);
  EXPECT_EQ(d.reply.status, 404);
  EXPECT_EQ(d.reply.reason, "Not A Name In This Tree");
}

TEST(Register, NoUserOrForeignSchemeIsLeftToTheRegistrar) {
  EXPECT_EQ(decide(kD1, kPolicy, reg("", "C1.D1.H1")).action, Action::kContinue);
  RequestFacts tel = reg("U1", "C1.D1.H1");
  tel.target.scheme = "tel";
  EXPECT_EQ(decide(kD1, kPolicy, tel).action, Action::kContinue);
}

TEST(Register, NoHopsLeftIs483OnlyWhenRedirecting) {
  EXPECT_EQ(decide(kD1, kPolicy, reg("U1", "C1.D1.H1", 0)).reply.status, 483);
  EXPECT_EQ(decide(kD1, kPolicy, reg("H1", "C1.D1", 0)).action, Action::kContinue);
}

TEST(Register, RegisterIsJudgedEvenWhenNotInRedirectMethods) {
  const RedirectPolicy only_invite{"", {"INVITE"}};
  EXPECT_EQ(decide(kD1, only_invite, reg("U1", "C1.D1.H1")).action, Action::kLookup);
}

// --- INVITE, MESSAGE, SUBSCRIBE, OPTIONS ---------------------------------

TEST(Call, DirectChildLooksUpTheUser) {
  const Decision d = decide(kD1, kPolicy, invite("U9", "C1.D1"));
  EXPECT_EQ(d.action, Action::kLookup);
  EXPECT_EQ(d.lookup_aor, "U9@C1.D1");
  EXPECT_EQ(d.target, LookupTarget::kUser);
}

TEST(Call, SubtreeLooksUpTheNextServer) {
  for (auto [method, name] : {std::pair{Method::kInvite, "INVITE"},
                              {Method::kMessage, "MESSAGE"},
                              {Method::kSubscribe, "SUBSCRIBE"},
                              {Method::kOptions, "OPTIONS"}}) {
    const Decision d = decide(kD1, kPolicy, facts(method, name, "U1", "C1.D1.H1"));
    EXPECT_EQ(d.action, Action::kLookup) << name;
    EXPECT_EQ(d.lookup_aor, "H1@C1.D1") << name;
    EXPECT_EQ(d.target, LookupTarget::kNextServer) << name;
  }
}

TEST(Call, NotMineAtTheTopIs404) {
  const Decision d = decide(kD1, kPolicy, invite("U1", "C1.D2.H1"));
  EXPECT_EQ(d.action, Action::kReply);
  EXPECT_EQ(d.reply.status, 404);
}

// Another family's user: straight to the top, which sends it down (not up
// through every ancestor).
TEST(Call, NotMineGoesToTheTop) {
  for (auto [user, host] : {std::pair{"U1", "C1.D2.H1"}, {"D2", "C1"}, {"U1", "C9.D1.H1"}}) {
    const Decision d = decide(kD1, kBelowTop, invite(user, host));
    ASSERT_EQ(d.action, Action::kReply) << user << "@" << host;
    EXPECT_EQ(d.reply.status, 302);
    ASSERT_EQ(d.reply.contacts.size(), 1u);
    EXPECT_EQ(d.reply.contacts[0].uri, "sip:192.0.2.1:5110");
  }
}

// --- a request addressed to this server: decided by its To ----------------

RequestFacts addressed(std::string_view method_name, Method method, UriView request_uri, UriView to,
                       bool uri_is_mine, bool to_is_mine = false) {
  RequestFacts f;
  f.method = method;
  f.method_name = method_name;
  f.target = request_uri;
  f.to = to;
  f.target_is_my_address = uri_is_mine;
  f.to_is_my_address = to_is_mine;
  return f;
}
UriView sip_uri(std::string_view user, std::string_view host, std::string_view port = {}) {
  UriView u;
  u.scheme = "sip";
  u.user = user;
  u.host = host;
  u.port = port;
  return u;
}

TEST(AddressedToMe, ByMyAddressTheToDecides) {
  // A plain RFC 3261 client followed a 302 to D1: Request-URI D1's contact, To the callee.
  const UriView me = sip_uri("D1", "127.0.0.1", "5120");
  const Decision below =
      decide(kD1, kBelowTop, addressed("INVITE", Method::kInvite, me, sip_uri("U1", "C1.D1.H1"), true));
  EXPECT_EQ(below.action, Action::kLookup);
  EXPECT_EQ(below.lookup_aor, "H1@C1.D1");
  const Decision mine =
      decide(kD1, kBelowTop, addressed("MESSAGE", Method::kMessage, me, sip_uri("U9", "C1.D1"), true));
  EXPECT_EQ(mine.lookup_aor, "U9@C1.D1");
  EXPECT_EQ(mine.target, LookupTarget::kUser);
  const Decision other =
      decide(kD1, kBelowTop, addressed("INVITE", Method::kInvite, me, sip_uri("U1", "C1.D2.H1"), true));
  ASSERT_EQ(other.reply.status, 302);
  EXPECT_EQ(other.reply.contacts.at(0).uri, "sip:192.0.2.1:5110");
  // The address without a user part is this server too.
  EXPECT_EQ(decide(kD1, kBelowTop,
                   addressed("INVITE", Method::kInvite, sip_uri("", "127.0.0.1", "5120"),
                             sip_uri("U1", "C1.D1.H1"), true))
                .lookup_aor,
            "H1@C1.D1");
}

TEST(AddressedToMe, ByMyAorTheToDecides) {
  const Decision d =
      decide(kD1, kPolicy,
             addressed("INVITE", Method::kInvite, sip_uri("D1", "c1"), sip_uri("U1", "C1.D1.H1"), false));
  EXPECT_EQ(d.lookup_aor, "H1@C1.D1");
}

TEST(AddressedToMe, ToNamingMeTooIsAnsweredByTheCore) {
  const UriView me = sip_uri("D1", "127.0.0.1", "5120");
  for (const UriView& to :
       {sip_uri("D1", "C1"), sip_uri("", "127.0.0.1", "5120"), sip_uri("service", "127.0.0.1", "5120")}) {
    const bool to_is_address = to.host == "127.0.0.1";
    EXPECT_EQ(
        decide(kD1, kBelowTop, addressed("OPTIONS", Method::kOptions, me, to, true, to_is_address)).action,
        Action::kContinue)
        << to.user << "@" << to.host;
  }
  // Not addressed to me (another server's address): judged by the Request-URI as before.
  EXPECT_EQ(decide(kD1, kBelowTop,
                   addressed("OPTIONS", Method::kOptions, sip_uri("", "192.0.2.9"), sip_uri("U1", "C1.D1.H1"),
                             false))
                .action,
            Action::kContinue);
}

TEST(AddressedToMe, AnInvalidToIs404) {
  EXPECT_EQ(decide(kD1, kBelowTop,
                   addressed("INVITE", Method::kInvite, sip_uri("D1", "127.0.0.1", "5120"),
                             sip_uri("U..1", "C1.D1"), true))
                .reply.status,
            404);
}

TEST(Call, InvalidNameIs404) { EXPECT_EQ(decide(kD1, kBelowTop, invite("U1", "C1..D1")).reply.status, 404); }

TEST(Call, NoHopsLeftIs483) {
  for (auto [user, host] : {std::pair{"U9", "C1.D1"}, {"U1", "C1.D1.H1"}, {"U1", "C1.D2.H1"}}) {
    const Decision d = decide(kD1, kBelowTop, invite(user, host, 0));
    EXPECT_EQ(d.action, Action::kReply);
    EXPECT_EQ(d.reply.status, 483) << user << "@" << host;
  }
  EXPECT_EQ(decide(kD1, kPolicy, invite("U1", "C1.D1.H1", 1)).action, Action::kLookup);
}

TEST(Call, TheServerItselfIsAnsweredByTheCore) {
  EXPECT_EQ(decide(kD1, kPolicy, facts(Method::kOptions, "OPTIONS", "", "127.0.0.1")).action,
            Action::kContinue);
  EXPECT_EQ(decide(kD1, kPolicy, facts(Method::kOptions, "OPTIONS", "D1", "C1")).action, Action::kContinue);
  EXPECT_EQ(decide(kD1, kPolicy, facts(Method::kOptions, "OPTIONS", "D1", "C1", 0)).action,
            Action::kContinue);
  EXPECT_EQ(decide(kD1, kPolicy, invite("", "C1.D1")).action, Action::kContinue);
}

TEST(Call, DialogAndUnlistedMethodsContinue) {
  for (auto [method, name] : {std::pair{Method::kBye, "BYE"},
                              {Method::kCancel, "CANCEL"},
                              {Method::kAck, "ACK"},
                              {Method::kNotify, "NOTIFY"},
                              {Method::kInfo, "INFO"}}) {
    EXPECT_EQ(decide(kD1, kBelowTop, facts(method, name, "U1", "C1.D1.H1")).action, Action::kContinue)
        << name;
  }
  const RedirectPolicy only_invite{"", {"INVITE"}};
  EXPECT_EQ(decide(kD1, only_invite, facts(Method::kMessage, "MESSAGE", "U1", "C1.D1.H1")).action,
            Action::kContinue);
  const RedirectPolicy with_publish{"", {"PUBLISH"}};
  EXPECT_EQ(decide(kD1, with_publish, facts(Method::kPublish, "PUBLISH", "U1", "C1.D1.H1")).action,
            Action::kLookup);
}

TEST(Call, FamilyServerRedirectsToItsUsers) {
  const ServerIdentity h1{"H1", "C1.D1"};
  const Decision d = decide(h1, kPolicy, invite("U1", "C1.D1.H1"));
  EXPECT_EQ(d.lookup_aor, "U1@C1.D1.H1");
  EXPECT_EQ(d.target, LookupTarget::kUser);
}

// --- answers after the lookup --------------------------------------------

TEST(Lookup, UserGetsAllContactsByQ) {
  const BindingList bindings{binding("sip:u@desk", 500), binding("sip:u@phone", 900),
                             binding("sip:u@tv", 700)};
  const Reply r = answer_lookup(LookupTarget::kUser, StoreStatus::kOk, bindings, 1000);
  EXPECT_EQ(r.status, 302);
  ASSERT_EQ(r.contacts.size(), 3u);
  EXPECT_EQ(r.contacts[0].uri, "sip:u@phone");
  EXPECT_EQ(r.contacts[0].q_millis, 900);
  EXPECT_EQ(r.contacts[1].uri, "sip:u@tv");
  EXPECT_EQ(r.contacts[2].uri, "sip:u@desk");
  EXPECT_FALSE(r.contacts[0].expires);
}

TEST(Lookup, EqualQKeepsTheStoreOrder) {
  const BindingList bindings{binding("sip:a@x", 1000), binding("sip:b@x", 1000)};
  const Reply r = answer_lookup(LookupTarget::kUser, StoreStatus::kOk, bindings, 1000);
  ASSERT_EQ(r.contacts.size(), 2u);
  EXPECT_EQ(r.contacts[0].uri, "sip:a@x");
}

TEST(Lookup, UserWithoutBindingsIs480) {
  EXPECT_EQ(answer_lookup(LookupTarget::kUser, StoreStatus::kOk, {}, 1000).status, 480);
  const BindingList expired{binding("sip:u@old", 1000, 1000)};
  EXPECT_EQ(answer_lookup(LookupTarget::kUser, StoreStatus::kOk, expired, 1000).status, 480);
}

// A phone registered over TLS or TCP is reached only on its connection,
// which this server holds: others get the AOR with a Route to this server,
// listed once however many flows the user has; its UDP bindings stay as
// they are. Without this server's URI nothing changes.
TEST(Lookup, AUserOnAFlowIsReachedThroughThisServer) {
  Binding tls = binding("sip:U1-a@127.0.0.1:5071;transport=tls", 1000);
  tls.source = "tls:127.0.0.1:40112";
  Binding tcp = binding("sip:U1-b@127.0.0.1:5072;transport=tcp", 900);
  tcp.source = "tcp:127.0.0.1:40113";
  Binding udp = binding("sip:U1-c@127.0.0.1:5073", 500);
  udp.source = "udp:127.0.0.1:5073";
  const BindingList bindings{tls, tcp, udp};
  const Reply r = answer_lookup(LookupTarget::kUser, StoreStatus::kOk, bindings, 1000, "U1@C1.D1.H1",
                                "sip:127.0.0.1:5130");
  ASSERT_EQ(r.status, 302);
  ASSERT_EQ(r.contacts.size(), 2u);
  EXPECT_EQ(r.contacts[0].uri, "sip:U1@C1.D1.H1?Route=%3Csip:127.0.0.1:5130%3Blr%3E");
  EXPECT_EQ(r.contacts[0].q_millis, 1000);
  EXPECT_EQ(r.contacts[1].uri, "sip:U1-c@127.0.0.1:5073");

  const Reply as_registered = answer_lookup(LookupTarget::kUser, StoreStatus::kOk, bindings, 1000);
  ASSERT_EQ(as_registered.contacts.size(), 3u);
  EXPECT_EQ(as_registered.contacts[0].uri, tls.contact);
  // A child server over TLS is reached at its own listener, never through here.
  const Reply next = answer_lookup(LookupTarget::kNextServer, StoreStatus::kOk, {tls}, 1000, "H1@C1.D1",
                                   "sip:127.0.0.1:5130");
  ASSERT_EQ(next.contacts.size(), 1u);
  EXPECT_EQ(next.contacts[0].uri, tls.contact);
}

TEST(Lookup, TheRouteOfAFlowContactIsEscapedAsAUriHeader) {
  EXPECT_EQ(flow_contact("U1@C1.D1.H1", "sip:192.0.2.5:5060;transport=tcp"),
            "sip:U1@C1.D1.H1?Route=%3Csip:192.0.2.5:5060%3Btransport%3Dtcp%3Blr%3E");
  EXPECT_EQ(flow_contact("U1@C1.D1.H1", "sips:[2001:db8::5]:5061"),
            "sip:U1@C1.D1.H1?Route=%3Csips:[2001:db8::5]:5061%3Blr%3E");
}

TEST(Lookup, TheBestBindingIsTheHighestQUnexpired) {
  const BindingList bindings{binding("sip:a@x", 500), binding("sip:b@x", 900), binding("sip:c@x", 1000, 10),
                             binding("sip:d@x", 900)};
  const Binding* best = best_binding(bindings, 1000);
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(best->contact, "sip:b@x");
  EXPECT_EQ(best_binding({binding("sip:c@x", 1000, 10)}, 1000), nullptr);
}

// A request goes on a flow only to the best binding, only when the lookup
// worked and that binding is on one.
TEST(Lookup, TheBindingOnAFlowIsTheBestOneOnlyWhenItIsOnAFlow) {
  Binding tls = binding("sip:a@192.0.2.7:5071;transport=tls", 1000);
  tls.source = "tls:192.0.2.7:40112";
  Binding udp = binding("sip:b@192.0.2.8:5060", 500);
  udp.source = "udp:192.0.2.8:5060";
  EXPECT_EQ(binding_on_flow(StoreStatus::kOk, {udp, tls}, 1000)->contact, tls.contact);
  EXPECT_EQ(binding_on_flow(StoreStatus::kUnavailable, {tls}, 1000), nullptr);
  udp.q_millis = 1000;
  EXPECT_EQ(binding_on_flow(StoreStatus::kOk, {udp, tls}, 1000), nullptr);  // the best is over UDP
  tls.contact = "tel:+15551234;transport=tls";
  EXPECT_EQ(binding_on_flow(StoreStatus::kOk, {tls}, 1000), nullptr);
}

// On a flow: registered over a connection, with a Contact over one too, or
// behind a NAT; a Contact over UDP is the phone's own listener.
TEST(Lookup, OnAFlowIsAConnectionBothWaysOrANat) {
  Binding b = binding("sip:a@192.0.2.7:5071;transport=tls", 1000);
  b.source = "tls:192.0.2.7:40112";
  EXPECT_TRUE(on_flow(b));
  b.contact = "sips:a@192.0.2.7:5071";
  EXPECT_TRUE(on_flow(b));
  b.contact = "sip:a@192.0.2.7:5071;transport=TCP";
  b.source = "tcp:192.0.2.7:40112";
  EXPECT_TRUE(on_flow(b));
  b.contact = "sip:a@192.0.2.7:5070";  // over UDP: a listener of its own
  EXPECT_FALSE(on_flow(b));
  b.contact = "sip:a@192.168.1.20:5070";  // behind a NAT
  EXPECT_TRUE(on_flow(b));
  b.source = "udp:192.0.2.7:5070";  // no connection at all
  b.contact = "sip:a@192.0.2.7:5070;transport=tls";
  EXPECT_FALSE(on_flow(b));
  b.source = "";
  EXPECT_FALSE(on_flow(b));
}

TEST(Lookup, NextServerGetsItsBestContactOnly) {
  const BindingList bindings{binding("sip:H1@10.0.0.2", 400), binding("sip:H1@10.0.0.1", 800),
                             binding("sip:H1@10.0.0.9", 1000, 10)};
  const Reply r = answer_lookup(LookupTarget::kNextServer, StoreStatus::kOk, bindings, 1000);
  EXPECT_EQ(r.status, 302);
  ASSERT_EQ(r.contacts.size(), 1u);
  EXPECT_EQ(r.contacts[0].uri, "sip:H1@10.0.0.1");
  EXPECT_FALSE(r.contacts[0].q_millis);
}

TEST(Lookup, NextServerOfflineIs404) {
  const Reply r = answer_lookup(LookupTarget::kNextServer, StoreStatus::kOk, {}, 1000);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.reason, "Next Server Offline");
}

TEST(Lookup, StoreFailures) {
  const Reply down = answer_lookup(LookupTarget::kUser, StoreStatus::kUnavailable, {}, 1000);
  EXPECT_EQ(down.status, 503);
  ASSERT_EQ(down.headers.size(), 1u);
  EXPECT_EQ(down.headers[0].first, "Retry-After");
  EXPECT_EQ(answer_lookup(LookupTarget::kNextServer, StoreStatus::kError, {}, 1000).status, 500);
}

// --- settings --------------------------------------------------------------

TEST(Policy, DefaultsAndSipUrisAreAccepted) {
  EXPECT_NO_THROW(check_policy(kPolicy));
  EXPECT_NO_THROW(check_policy(kBelowTop));
  EXPECT_NO_THROW(check_policy(RedirectPolicy{"sips:example.org", {}}));
}

TEST(Policy, BadSettingsAreRefused) {
  EXPECT_THROW(check_policy(RedirectPolicy{"", {"REGISTER"}}), ConfigError);
  EXPECT_THROW(check_policy(RedirectPolicy{"", {"ACK"}}), ConfigError);
  EXPECT_THROW(check_policy(RedirectPolicy{"", {"CANCEL"}}), ConfigError);
  EXPECT_THROW(check_policy(RedirectPolicy{"", {""}}), ConfigError);
  EXPECT_THROW(check_policy(RedirectPolicy{"", {"IN VITE"}}), ConfigError);
  try {
    check_policy(RedirectPolicy{"mailto:C1@192.0.2.1", {}});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "top");
  }
}

// Terminals behind NAT: the 302 points where the REGISTER came from.
TEST(ReachableContact, PrivateContactBehindNatIsReplacedBySource) {
  Binding b;
  b.contact = "sip:U1@192.168.1.20:5060";
  b.source = "udp:203.0.113.5:40312";
  EXPECT_EQ(reachable_contact(b), "sip:U1@203.0.113.5:40312");
  b.contact = "sip:U1@192.168.001.020:5060";  // RFC 3261 allows leading zeros
  EXPECT_EQ(reachable_contact(b), "sip:U1@203.0.113.5:40312");
  b.contact = "sip:U1@100.64.0.9:5060";  // carrier-grade NAT (RFC 6598)
  EXPECT_EQ(reachable_contact(b), "sip:U1@203.0.113.5:40312");
  b.contact = "sip:U1@192.168.1.20:5060;ob";
  b.source = "tcp:203.0.113.5:40999";
  EXPECT_EQ(reachable_contact(b), "sip:U1@203.0.113.5:40999;transport=tcp;ob");
}

TEST(ReachableContact, ContactMatchingSourceOrNamedHostIsKept) {
  Binding b;
  b.contact = "sip:U1@203.0.113.5:5060";
  b.source = "udp:203.0.113.5:5060";
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.contact = "sip:U1@phone.example.org";
  b.source = "udp:203.0.113.5:5060";
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.contact = "sip:U1@198.51.100.7:5060";  // public: registered on someone's behalf, trusted as is
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.contact = "sip:U1@172.32.0.1:5060";  // just outside 172.16/12
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.contact = "sip:U1@192.168.001.020:5060";  // the source's address, written with zeros
  b.source = "udp:192.168.1.20:5060";
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.source = "udp:203.0.113.5:5060";
  b.contact = "sip:U1@10.0.0.256:5060";  // not an address
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.contact = "sip:U1@10.0.0.1.example:5060";  // a name
  EXPECT_EQ(reachable_contact(b), b.contact);
  b.source = "";  // bindings from before sources were recorded
  b.contact = "sip:U1@10.0.0.1";
  EXPECT_EQ(reachable_contact(b), b.contact);
}

TEST(ReachableContact, RedirectUsesIt) {
  Binding b;
  b.contact = "sip:U1@10.0.0.7:5060";
  b.source = "udp:198.51.100.9:1024";
  b.expires_at = 2000;
  const Reply r = answer_lookup(LookupTarget::kUser, StoreStatus::kOk, {b}, 1000);
  ASSERT_EQ(r.contacts.size(), 1u);
  EXPECT_EQ(r.contacts[0].uri, "sip:U1@198.51.100.9:1024");
}
