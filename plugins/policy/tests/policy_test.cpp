// The policy plugin on the SDK test kit, created through its descriptor as
// the core would: each decision with the identity an authenticator set.
#include <gtest/gtest.h>

#include "homesip/testkit/testkit.hpp"
#include "homesip/tree.hpp"
#include "rules.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

using namespace homesip;
using homesip::testkit::FakeIncomingRequest;
using homesip::testkit::FakePluginContext;
using homesip::testkit::RequestBuilder;

namespace {

class FakeTree final : public TreeService {
 public:
  explicit FakeTree(ServerIdentity self) : self_(std::move(self)) {}
  const ServerIdentity& self() const override { return self_; }

 private:
  ServerIdentity self_;
};

AuthenticatedIdentity user(const std::string& aor, const std::string& role) {
  return {aor, aor.substr(aor.find('@') + 1), role, "digest"};
}

struct Outcome {
  Disposition disposition;
  std::shared_ptr<FakeIncomingRequest> incoming;
  int status() const { return incoming->last_reply() ? incoming->last_reply()->status : 0; }
  std::string reason() const { return incoming->last_reply() ? incoming->last_reply()->reason : ""; }
};

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override { make(); }

  void make(testkit::SettingValues extra = {}) {
    plugin_.reset();
    testkit::SettingValues values{{"grants", {"U3@C1.D1.H1 control light.kitchen"}}};
    for (auto& [key, value] : extra) values.insert_or_assign(key, value);
    context_ = std::make_unique<FakePluginContext>(*homesip_plugin_descriptor(), values);
    context_->add_service<TreeService>(tree_);
    plugin_ = context_->create_plugin();
  }

  Outcome run(const RequestBuilder& builder, std::optional<AuthenticatedIdentity> identity = std::nullopt) {
    Outcome o{Disposition::kContinue,
              std::make_shared<FakeIncomingRequest>(builder.build(), context_->manual_loop())};
    if (identity) o.incoming->attributes().set(kAuthenticatedIdentity, *identity);
    o.disposition = context_->handlers().at(0).handler->on_request(*o.incoming);
    return o;
  }

  static RequestBuilder request(Method method, const std::string& aor) {
    return RequestBuilder()
        .method(method)
        .uri("sip:" + aor)
        .from("sip:whoever@example.org")
        .to("sip:" + aor)
        .source("udp", "127.0.0.9", 5070);
  }
  static RequestBuilder message(const std::string& aor) {
    return request(Method::kMessage, aor).body("text/plain", "on");
  }

  uint64_t refusals() const { return context_->counter_value("refusals_total").value_or(0); }
  bool logged(const std::string& text) const { return context_->fake_logger().contains(text); }

  FakeTree tree_{ServerIdentity{"H1", "C1.D1"}};
  std::unique_ptr<FakePluginContext> context_;
  std::unique_ptr<Plugin> plugin_;
};

}  // namespace

TEST_F(PolicyTest, JoinsTheAuthorizePhase) {
  ASSERT_EQ(context_->handlers().size(), 1u);
  EXPECT_EQ(context_->handlers()[0].placement.phase, Phase::kAuthorize);
  EXPECT_EQ(context_->handlers()[0].name, "policy");
}

TEST_F(PolicyTest, ApplianceControlNeedsAMemberAndNeverComesFromOutside) {
  EXPECT_EQ(run(message("lamp@C1.D1.H1"), user("U1@C1.D1.H1", "owner")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(message("lamp@C1.D1.H1"), user("U2@C1.D1.H1", "member")).disposition, Disposition::kContinue);
  const Outcome guest = run(message("lamp@C1.D1.H1"), user("U4@C1.D1.H1", "guest"));
  EXPECT_EQ(guest.status(), 403);
  EXPECT_EQ(guest.reason(), "Appliance Control Not Permitted For Guests");
  const Outcome stranger = run(message("lamp@C1.D1.H1"));
  EXPECT_EQ(stranger.status(), 403);
  EXPECT_EQ(stranger.reason(), "Appliance Control Not Permitted For Outside Callers");
  // An owner of another family is outside here.
  EXPECT_EQ(run(message("lamp@C1.D1.H1"), user("U5@C1.D2.H2", "owner")).status(), 403);
  // Home Assistant entities ("*.*") are appliances too; INVITE is control as well.
  EXPECT_EQ(run(request(Method::kInvite, "light.kitchen@C1.D1.H1")).status(), 403);
  EXPECT_EQ(refusals(), 4u);
  EXPECT_TRUE(
      logged("info: refused method=MESSAGE aor=lamp@C1.D1.H1 source=udp:127.0.0.9:5070 status=403 "
             "reason=\"Appliance Control Not Permitted For Guests\" identity=U4@C1.D1.H1 role=guest"))
      << ::testing::PrintToString(context_->log_lines());
  EXPECT_TRUE(
      logged("info: refused method=MESSAGE aor=lamp@C1.D1.H1 source=udp:127.0.0.9:5070 status=403 "
             "reason=\"Appliance Control Not Permitted For Outside Callers\" identity=none"));
  EXPECT_EQ(context_->log_lines().size(), 5u);  // "policy for" and one line per refusal
}

TEST_F(PolicyTest, WatchingIsForTheFamilyIncludingGuests) {
  EXPECT_EQ(run(request(Method::kSubscribe, "lamp@C1.D1.H1"), user("U4@C1.D1.H1", "guest")).disposition,
            Disposition::kContinue);
  const Outcome stranger = run(request(Method::kSubscribe, "lamp@C1.D1.H1"));
  EXPECT_EQ(stranger.reason(), "Appliance Watching Not Permitted For Outside Callers");
  make({{"watch", {"owner", "member", "guest", "outside"}}});
  EXPECT_EQ(run(request(Method::kSubscribe, "lamp@C1.D1.H1")).disposition, Disposition::kContinue);
}

TEST_F(PolicyTest, GrantsAddToARole) {
  const auto u3 = user("U3@C1.D1.H1", "guest");
  EXPECT_EQ(run(message("light.kitchen@C1.D1.H1"), u3).disposition, Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kSubscribe, "light.kitchen@C1.D1.H1"), u3).disposition,
            Disposition::kContinue);  // control includes watching
  EXPECT_EQ(run(message("light.hall@C1.D1.H1"), u3).status(), 403);
  EXPECT_EQ(run(message("light.kitchen@C1.D1.H1"), user("U4@C1.D1.H1", "guest")).status(), 403);
  make({{"grants", {"U3@C1.D1.H1 control light.*", "U9@C1.D1.H1 call U1"}},
        {"call", {"owner"}},
        {"calls_from_outside", false}});
  EXPECT_EQ(run(message("light.hall@C1.D1.H1"), u3).disposition, Disposition::kContinue);
  EXPECT_EQ(run(message("U1@C1.D1.H1"), user("U9@C1.D1.H1", "guest")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(message("U2@C1.D1.H1"), user("U9@C1.D1.H1", "guest")).reason(),
            "Calls Not Permitted For Guests");
}

TEST_F(PolicyTest, CallsFromTheFamilyAndFromOutside) {
  EXPECT_EQ(run(request(Method::kInvite, "U1@C1.D1.H1"), user("U4@C1.D1.H1", "guest")).disposition,
            Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kInvite, "U1@C1.D1.H1")).disposition, Disposition::kContinue);
  make({{"calls_from_outside", false}, {"call", {"owner", "member"}}});
  const Outcome outside = run(request(Method::kInvite, "U1@C1.D1.H1"));
  EXPECT_EQ(outside.status(), 403);
  EXPECT_EQ(outside.reason(), "Calls Not Permitted For Outside Callers");
  EXPECT_EQ(run(message("U1@C1.D1.H1"), user("U4@C1.D1.H1", "guest")).reason(),
            "Calls Not Permitted For Guests");
  // ACK and CANCEL are never refused (they follow what was decided).
  EXPECT_EQ(run(request(Method::kAck, "U1@C1.D1.H1")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kCancel, "U1@C1.D1.H1")).disposition, Disposition::kContinue);
}

TEST_F(PolicyTest, BindingLookupsAreForTheUserTheOwnerServersAndThisServer) {
  const RequestBuilder lookup = request(Method::kOptions, "U1@C1.D1.H1");
  EXPECT_EQ(run(lookup, user("U1@C1.D1.H1", "member")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(lookup, user("U2@C1.D1.H1", "owner")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(lookup, AuthenticatedIdentity{"H2@C1.D2", "C1.D2", "server", "tls-certificate"}).disposition,
            Disposition::kContinue);
  const Outcome other = run(lookup, user("U3@C1.D1.H1", "member"));
  EXPECT_EQ(other.status(), 403);
  EXPECT_EQ(other.reason(), "Binding Lookup Not Permitted For Members");
  EXPECT_EQ(run(lookup).reason(), "Binding Lookup Not Permitted For Outside Callers");
  // This server's own resolver: from its first listener's address (127.0.0.1 on
  // the test kit), from any port (the core's client uses an ephemeral one).
  RequestBuilder own = lookup;
  EXPECT_EQ(run(own.source("udp", "127.0.0.1", 40123)).disposition, Disposition::kContinue);
  EXPECT_EQ(run(own.source("udp", "127.0.0.2", 40123)).status(), 403);
  // A tree without TLS between servers lets other families' resolvers look up.
  make({{"binding_lookups", {"owner", "server", "outside"}}});
  EXPECT_EQ(run(lookup).disposition, Disposition::kContinue);
}

TEST_F(PolicyTest, RegisteringIsForOnesOwnAorAndTheListedRoles) {
  const auto reg = [](const std::string& aor) {
    return RequestBuilder::registration(aor).contact("<sip:u@192.0.2.7:5060>");
  };
  EXPECT_EQ(run(reg("U1@C1.D1.H1"), user("U1@C1.D1.H1", "guest")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(reg("U1@C1.D1.H1")).reason(), "Registration Needs Authentication");
  EXPECT_EQ(run(reg("U1@C1.D1.H1"), user("U2@C1.D1.H1", "owner")).reason(), "Not Your Binding");
  make({{"register", {"owner", "member"}}});
  EXPECT_EQ(run(reg("U1@C1.D1.H1"), user("U1@C1.D1.H1", "guest")).reason(),
            "Registration Not Permitted For Guests");
  // A child server registering its own AOR, and REGISTERs for other domains, pass.
  EXPECT_EQ(run(reg("X1@C1.D1.H1"), AuthenticatedIdentity{"X1@C1.D1.H1", "C1.D1.H1", "server", "digest"})
                .disposition,
            Disposition::kContinue);
  EXPECT_EQ(run(reg("U5@C1.D2.H2")).disposition, Disposition::kContinue);
}

// The test kit's listener is udp 127.0.0.1:5130: an appliance or a user named
// at this server's address is this family's (the hub serves entity@address),
// and a request naming this server goes where its To says (the tree's rule).
TEST_F(PolicyTest, TargetsNamedByThisServersAddressAreDecidedLikeTheDomains) {
  const Outcome stranger = run(message("light.kitchen@127.0.0.1:5130"));
  EXPECT_EQ(stranger.status(), 403);
  EXPECT_EQ(stranger.reason(), "Appliance Control Not Permitted For Outside Callers");
  EXPECT_EQ(run(request(Method::kSubscribe, "sensor.door@127.0.0.1:5130")).reason(),
            "Appliance Watching Not Permitted For Outside Callers");
  EXPECT_EQ(run(message("light.kitchen@127.0.0.1:5130"), user("U2@C1.D1.H1", "member")).disposition,
            Disposition::kContinue);
  // The Request-URI names this server (its address, or its AOR H1@C1.D1): To decides.
  RequestBuilder via_address = request(Method::kOptions, "127.0.0.1:5130");
  EXPECT_EQ(run(via_address.to("sip:U1@C1.D1.H1")).reason(),
            "Binding Lookup Not Permitted For Outside Callers");
  RequestBuilder via_name = message("H1@C1.D1");
  EXPECT_EQ(run(via_name.to("sip:lamp@C1.D1.H1")).reason(),
            "Appliance Control Not Permitted For Outside Callers");
  RequestBuilder own_name_at_address = message("H1@127.0.0.1:5130");
  EXPECT_EQ(run(own_name_at_address.to("sip:light.kitchen@127.0.0.1:5130")).status(), 403);
  // Another port, or the server itself with nothing else named, is not decided here.
  EXPECT_EQ(run(message("light.kitchen@127.0.0.1:5999")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kOptions, "H1@127.0.0.1:5130")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kOptions, "127.0.0.1:5130")).disposition, Disposition::kContinue);
  // A REGISTER for a user at this address is not anyone's own binding.
  EXPECT_EQ(run(RequestBuilder::registration("U1@127.0.0.1:5130").contact("<sip:u@192.0.2.7:5060>"),
                user("U1@C1.D1.H1", "owner"))
                .reason(),
            "Not Your Binding");
}

TEST_F(PolicyTest, OtherDomainsAndTheServerItselfPass) {
  EXPECT_EQ(run(message("lamp@C1.D2.H2")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kOptions, "U5@C1.D2.H2")).disposition, Disposition::kContinue);
  EXPECT_EQ(run(request(Method::kOptions, "C1.D1.H1")).disposition, Disposition::kContinue);
  EXPECT_EQ(refusals(), 0u);
}

TEST_F(PolicyTest, DomainComesFromTheTreeOrTheSetting) {
  EXPECT_THROW(make({{"domain", "C1.D1.H1"}}), ConfigError);
  FakePluginContext plain(*homesip_plugin_descriptor(), {{"domain", "home.example"}});
  auto plugin = plain.create_plugin();
  FakeIncomingRequest incoming(message("lamp@home.example").build(), plain.manual_loop());
  EXPECT_EQ(plain.handlers().at(0).handler->on_request(incoming), Disposition::kHandled);
  FakePluginContext none(*homesip_plugin_descriptor(), {});
  EXPECT_THROW(none.create_plugin(), ConfigError);
}

TEST_F(PolicyTest, CheckSettingsRefusesWhatCannotWork) {
  const auto key_of = [](testkit::SettingValues values) -> std::string {
    try {
      FakePluginContext context(*homesip_plugin_descriptor(), values);
    } catch (const ConfigError& e) {
      return e.key();
    }
    return "";
  };
  EXPECT_EQ(key_of({}), "");
  EXPECT_EQ(key_of({{"register", {"outside"}}}), "register");
  EXPECT_EQ(key_of({{"call", {"admin"}}}), "call");
  EXPECT_EQ(key_of({{"control", {"Owner"}}}), "control");
  EXPECT_EQ(key_of({{"appliances", {""}}}), "appliances");
  EXPECT_EQ(key_of({{"grants", {"U3@C1.D1.H1 switch lamp"}}}), "grants");
  EXPECT_EQ(key_of({{"grants", {"U3 control lamp"}}}), "grants");
  EXPECT_EQ(key_of({{"grants", {"U3@C1.D1.H1 control"}}}), "grants");
  EXPECT_EQ(key_of({{"binding_lookups", {"anyone"}}}), "binding_lookups");
}

TEST(PolicyGlob, MatchesWildcards) {
  using homesip::policy::glob_match;
  EXPECT_TRUE(glob_match("*.*", "light.kitchen"));
  EXPECT_FALSE(glob_match("*.*", "lamp"));
  EXPECT_TRUE(glob_match("lamp", "lamp"));
  EXPECT_FALSE(glob_match("lamp", "lamp2"));
  EXPECT_TRUE(glob_match("lamp?", "lamp2"));
  EXPECT_TRUE(glob_match("light.*", "light."));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("a*b*c", "aXbY"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYc"));
}
