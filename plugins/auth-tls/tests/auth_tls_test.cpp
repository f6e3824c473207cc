// The auth-tls plugin on the SDK test kit, created through its descriptor as
// the core would; the certificate names are what the core would hand on.
#include <gtest/gtest.h>

#include <algorithm>

#include "certificate_authenticator.hpp"
#include "homesip/testkit/testkit.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

using namespace homesip;
using homesip::testkit::FakeIncomingRequest;
using homesip::testkit::FakePluginContext;
using homesip::testkit::RequestBuilder;

namespace {

struct Outcome {
  Disposition disposition;
  std::shared_ptr<FakeIncomingRequest> incoming;
  int status() const { return incoming->last_reply() ? incoming->last_reply()->status : 0; }
  std::string reason() const { return incoming->last_reply() ? incoming->last_reply()->reason : ""; }
  const AuthenticatedIdentity* identity() const { return incoming->attributes().get(kAuthenticatedIdentity); }
};

class AuthTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { make(); }

  void make(testkit::SettingValues values = {}) {
    plugin_.reset();
    context_ = std::make_unique<FakePluginContext>(*homesip_plugin_descriptor(), values);
    plugin_ = context_->create_plugin();
  }

  Outcome run(const RequestBuilder& builder, const AuthenticatedIdentity* already = nullptr) {
    Outcome o{Disposition::kContinue,
              std::make_shared<FakeIncomingRequest>(builder.build(), context_->manual_loop())};
    if (already) o.incoming->attributes().set(kAuthenticatedIdentity, *already);
    o.disposition = context_->handlers().at(0).handler->on_request(*o.incoming);
    return o;
  }

  // H1@C1.D1's REGISTER at its parent over TLS with a certificate naming `names`.
  static RequestBuilder child_register(std::vector<std::string> names, const std::string& aor = "H1@C1.D1") {
    return RequestBuilder::registration(aor)
        .contact("<sips:H1@127.0.0.1:5131>")
        .source("tls", "127.0.0.1", 40000)
        .peer_certificate_names(std::move(names));
  }

  uint64_t counter(const char* name) const { return context_->counter_value(name).value_or(0); }
  bool logged(const std::string& text) const { return context_->fake_logger().contains(text); }

  std::unique_ptr<FakePluginContext> context_;
  std::unique_ptr<Plugin> plugin_;
};

}  // namespace

TEST_F(AuthTlsTest, RunsFirstInTheAuthenticatePhase) {
  ASSERT_EQ(context_->handlers().size(), 1u);
  EXPECT_EQ(context_->handlers()[0].placement.phase, Phase::kAuthenticate);
  EXPECT_EQ(context_->handlers()[0].placement.order, -10);
  EXPECT_EQ(context_->handlers()[0].name, "auth-tls");
}

TEST_F(AuthTlsTest, ACertificateNamingTheRegisteredAorIdentifiesIt) {
  const Outcome o = run(child_register({"sip:H1@C1.D1", "127.0.0.1"}));
  EXPECT_EQ(o.disposition, Disposition::kContinue);
  ASSERT_NE(o.identity(), nullptr);
  EXPECT_EQ(o.identity()->aor, "H1@C1.D1");
  EXPECT_EQ(o.identity()->realm, "C1.D1");
  EXPECT_EQ(o.identity()->role, "server");
  EXPECT_EQ(o.identity()->scheme, "tls-certificate");
  EXPECT_EQ(counter("auth_ok_total"), 1u);
}

TEST_F(AuthTlsTest, TheBareAorAndAnotherHostCaseNameItToo) {
  EXPECT_NE(run(child_register({"H1@C1.D1"})).identity(), nullptr);
  const Outcome o = run(child_register({"sip:H1@c1.d1"}));
  ASSERT_NE(o.identity(), nullptr);
  // The AOR registered, as written in To; the user part compares exactly.
  EXPECT_EQ(o.identity()->aor, "H1@C1.D1");
  EXPECT_EQ(run(child_register({"sip:h1@C1.D1"})).status(), 403);
}

TEST_F(AuthTlsTest, ACertificateNamingAnotherAorIsRefusedOnce) {
  const Outcome o = run(child_register({"sip:H2@C1.D1", "127.0.0.1"}));
  EXPECT_EQ(o.disposition, Disposition::kHandled);
  EXPECT_EQ(o.status(), 403);
  EXPECT_EQ(o.reason(), "Certificate Names Another AOR");
  EXPECT_EQ(o.identity(), nullptr);
  EXPECT_EQ(counter("auth_failed_total"), 1u);
  EXPECT_EQ(counter("auth_ok_total"), 0u);
  EXPECT_TRUE(
      logged("info: refused method=REGISTER aor=H1@C1.D1 source=tls:127.0.0.1:40000 status=403 "
             "reason=\"certificate names another AOR (H2@C1.D1)\""));
  const auto& lines = context_->fake_logger().lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& line) { return line.find("refused ") != std::string::npos; }),
            1);
}

TEST_F(AuthTlsTest, NoCertificateOrOnlyHostNamesLeaveItToTheNextAuthenticator) {
  const Outcome none = run(child_register({}));
  EXPECT_EQ(none.disposition, Disposition::kContinue);
  EXPECT_EQ(none.identity(), nullptr);
  const Outcome hosts = run(child_register({"127.0.0.1", "h1.example.org"}));
  EXPECT_EQ(hosts.disposition, Disposition::kContinue);
  EXPECT_EQ(hosts.identity(), nullptr);
  // A sips: URI is no certificate subject (RFC 5922 7.1).
  EXPECT_EQ(run(child_register({"sips:H1@C1.D1"})).identity(), nullptr);
  EXPECT_EQ(counter("auth_failed_total"), 0u);
}

TEST_F(AuthTlsTest, OtherRequestsAreFromTheCertificatesAor) {
  const Outcome o = run(RequestBuilder()
                            .method(Method::kOptions)
                            .uri("sip:D1@127.0.0.1:5120")
                            .from("sip:anyone@elsewhere")
                            .source("tls", "127.0.0.1", 40000)
                            .peer_certificate_names({"127.0.0.1", "sip:H1@C1.D1"}));
  EXPECT_EQ(o.disposition, Disposition::kContinue);
  ASSERT_NE(o.identity(), nullptr);
  EXPECT_EQ(o.identity()->aor, "H1@C1.D1");
}

TEST_F(AuthTlsTest, ARequestAlreadyIdentifiedIsLeftAlone) {
  const AuthenticatedIdentity digest{"U1@C1.D1.H1", "C1.D1.H1", "member", "digest"};
  const Outcome o = run(child_register({"sip:H2@C1.D1"}), &digest);
  EXPECT_EQ(o.disposition, Disposition::kContinue);
  ASSERT_NE(o.identity(), nullptr);
  EXPECT_EQ(o.identity()->scheme, "digest");
}

TEST_F(AuthTlsTest, RoleIsASetting) {
  make({{"role", "owner"}});
  const Outcome o = run(child_register({"sip:H1@C1.D1"}));
  ASSERT_NE(o.identity(), nullptr);
  EXPECT_EQ(o.identity()->role, "owner");
  EXPECT_THROW(make({{"role", "king"}}), ConfigError);
}

namespace {

// Users this server knows, answered at once (as the embedded store does).
class KnownUsers final : public UserStore {
 public:
  std::vector<UserRecord> users;
  bool down = false;
  void find_user(std::string_view aor, UserDone done) override {
    if (down) return done(StoreStatus::kUnavailable, std::nullopt);
    for (const UserRecord& user : users)
      if (user.aor == aor) return done(StoreStatus::kOk, user);
    done(StoreStatus::kOk, std::nullopt);
  }
  void list_users(std::string_view, UserListDone done) override { done(StoreStatus::kOk, users); }
  void put_user(const UserRecord&, UserWriteDone done) override { done(StoreStatus::kError); }
  void remove_user(std::string_view, UserWriteDone done) override { done(StoreStatus::kError); }
};

}  // namespace

// A phone's certificate (homesipctl pki issue for a user) names its AOR: at
// its own family server it is that user with the store's role, not a server
// of the tree (which could look up any user and relay anywhere).
TEST_F(AuthTlsTest, AUserOfTheStoreHasItsOwnRoleNotTheServersOne) {
  KnownUsers users;
  users.users = {{"U4@C1.D1.H1", "C1.D1.H1", "guest", {}}, {"U5@C1.D1.H1", "C1.D1.H1", "", {}}};
  plugin_.reset();
  context_ = std::make_unique<FakePluginContext>(*homesip_plugin_descriptor(), testkit::SettingValues{});
  context_->add_service<UserStore>(users);
  plugin_ = context_->create_plugin();
  const auto lookup = [](const std::string& aor) {
    return RequestBuilder()
        .method(Method::kOptions)
        .uri("sip:U1@C1.D1.H1")
        .from("sip:" + aor)
        .source("tls", "127.0.0.1", 40000)
        .peer_certificate_names({"sip:" + aor});
  };
  const Outcome guest = run(lookup("U4@C1.D1.H1"));
  ASSERT_TRUE(guest.incoming->resumed());
  ASSERT_NE(guest.identity(), nullptr);
  EXPECT_EQ(guest.identity()->aor, "U4@C1.D1.H1");
  EXPECT_EQ(guest.identity()->role, "guest");
  const Outcome no_role = run(lookup("U5@C1.D1.H1"));
  ASSERT_NE(no_role.identity(), nullptr);
  EXPECT_EQ(no_role.identity()->role, "");
  // Not a user here: one of the tree's servers.
  const Outcome server = run(child_register({"sip:H1@C1.D1"}));
  ASSERT_NE(server.identity(), nullptr);
  EXPECT_EQ(server.identity()->role, "server");
  // The store down: 503 with Retry-After, no identity.
  users.down = true;
  const Outcome down = run(lookup("U4@C1.D1.H1"));
  EXPECT_EQ(down.status(), 503);
  EXPECT_EQ(down.identity(), nullptr);
}

TEST(CertificateAors, ComparesTheHostCaseInsensitively) {
  EXPECT_TRUE(auth_tls::same_aor("H1@C1.D1", "H1@c1.d1"));
  EXPECT_FALSE(auth_tls::same_aor("H1@C1.D1", "h1@C1.D1"));
  EXPECT_FALSE(auth_tls::same_aor("H1@C1.D1", "H1@C1.D1.X"));
}

TEST(CertificateAors, ReadsSipUrisAndBareAors) {
  EXPECT_EQ(auth_tls::certificate_aors({"sip:H1@C1.D1", "127.0.0.1", "x.example", "D1@C1", "sip:host.only"}),
            (std::vector<std::string>{"H1@C1.D1", "D1@C1"}));
}
