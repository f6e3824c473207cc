// The auth-digest plugin on the SDK test kit, created through its descriptor
// as the core would, with a user store in memory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "authenticator.hpp"
#include "homesip/digest/digest.hpp"
#include "homesip/testkit/testkit.hpp"
#include "homesip/tree.hpp"
#include "secret.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

using namespace homesip;
using homesip::testkit::FakeIncomingRequest;
using homesip::testkit::FakePluginContext;
using homesip::testkit::RequestBuilder;
namespace digest = homesip::digest;

namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr const char* kRealm = "C1.D1.H1";

// A UserStore in memory: answers at once, or fails every call when down.
class MemoryUserStore final : public UserStore {
 public:
  std::map<std::string, UserRecord> users;  // by AOR
  bool down = false;
  int finds = 0;

  void find_user(std::string_view aor, UserDone done) override {
    ++finds;
    if (down) return done(StoreStatus::kError, std::nullopt);
    const auto it = users.find(std::string(aor));
    done(StoreStatus::kOk, it == users.end() ? std::nullopt : std::optional<UserRecord>(it->second));
  }
  void list_users(std::string_view domain, UserListDone done) override {
    if (down) return done(StoreStatus::kError, {});
    std::vector<UserRecord> out;
    for (const auto& [aor, user] : users)
      if (user.domain == domain) out.push_back(user);
    done(StoreStatus::kOk, out);
  }
  void put_user(const UserRecord& user, UserWriteDone done) override {
    if (down) return done(StoreStatus::kError);
    users[user.aor] = user;
    done(StoreStatus::kOk);
  }
  void remove_user(std::string_view aor, UserWriteDone done) override {
    if (down) return done(StoreStatus::kError);
    users.erase(std::string(aor));
    done(StoreStatus::kOk);
  }

  void add(const std::string& user, const std::string& password, const std::string& role = "member",
           const std::string& realm = kRealm) {
    UserRecord record{user + "@" + realm, realm, role, {}};
    for (const auto algorithm : {digest::Algorithm::kMd5, digest::Algorithm::kSha256})
      record.credentials.push_back(UserCredential{realm, std::string(digest::algorithm_name(algorithm)),
                                                  digest::ha1(algorithm, user, realm, password)});
    users[record.aor] = record;
  }
};

class FakeTree final : public TreeService {
 public:
  explicit FakeTree(ServerIdentity self) : self_(std::move(self)) {}
  const ServerIdentity& self() const override { return self_; }

 private:
  ServerIdentity self_;
};

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "auth-digest-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct Outcome {
  Disposition disposition;
  std::shared_ptr<FakeIncomingRequest> incoming;
  const Reply* reply() const { return incoming->last_reply(); }
  int status() const { return reply() ? reply()->status : 0; }
  std::vector<std::string> headers(std::string_view name) const {
    std::vector<std::string> out;
    if (reply())
      for (const auto& [n, v] : reply()->headers)
        if (n == name) out.push_back(v);
    return out;
  }
  const AuthenticatedIdentity* identity() const { return incoming->attributes().get(kAuthenticatedIdentity); }
};

class AuthDigestTest : public ::testing::Test {
 protected:
  void SetUp() override { make(); }

  void make(testkit::SettingValues extra = {}) {
    plugin_.reset();
    testkit::SettingValues values{{"realm", kRealm}, {"secret_file", dir_.file("secret")}};
    for (auto& [key, value] : extra) values.insert_or_assign(key, value);
    context_ = std::make_unique<FakePluginContext>(*homesip_plugin_descriptor(), values);
    context_->add_service<UserStore>(store_);
    context_->manual_loop().set_unix_now(kNow);
    plugin_ = context_->create_plugin();
    store_.add("U1", "pw1");
    store_.add("U2", "pw2", "owner");
  }

  Outcome run(const RequestBuilder& builder) {
    Outcome o{Disposition::kContinue,
              std::make_shared<FakeIncomingRequest>(builder.build(), context_->manual_loop())};
    o.disposition = context_->handlers().at(0).handler->on_request(*o.incoming);
    context_->manual_loop().run_pending();
    return o;
  }

  static RequestBuilder reg(const std::string& aor = "U1@C1.D1.H1") {
    return RequestBuilder::registration(aor).contact("<sip:u@192.0.2.7:5060>").call_id("call-" + aor);
  }

  // The challenge a bare request gets, as a client parses it, for `algorithm`.
  digest::DigestParams challenge_for(const RequestBuilder& bare, digest::Algorithm algorithm,
                                     const char* header = "WWW-Authenticate") {
    const Outcome o = run(bare);
    for (const std::string& value : o.headers(header)) {
      auto parsed = digest::parse(value);
      if (parsed && digest::parse_algorithm(parsed->algorithm) == algorithm) return *parsed;
    }
    ADD_FAILURE() << "no " << digest::algorithm_name(algorithm) << " challenge";
    return {};
  }

  // `builder` with credentials answering a fresh challenge.
  RequestBuilder with_credentials(RequestBuilder builder, const std::string& user,
                                  const std::string& password,
                                  digest::Algorithm algorithm = digest::Algorithm::kSha256, uint32_t nc = 1,
                                  const std::string& uri = "sip:C1.D1.H1",
                                  const std::string& method = "REGISTER", bool proxy = false) {
    const digest::DigestParams ch =
        challenge_for(builder, algorithm, proxy ? "Proxy-Authenticate" : "WWW-Authenticate");
    return with_answer(builder, ch, user, password, nc, uri, method, proxy);
  }
  static RequestBuilder with_answer(RequestBuilder builder, const digest::DigestParams& ch,
                                    const std::string& user, const std::string& password, uint32_t nc,
                                    const std::string& uri = "sip:C1.D1.H1",
                                    const std::string& method = "REGISTER", bool proxy = false) {
    const auto value = digest::authorization(ch, user, password, method, uri, "cnonce-1", nc);
    EXPECT_TRUE(value);
    builder.header(proxy ? "Proxy-Authorization" : "Authorization", value.value_or(""));
    return builder;
  }

  uint64_t counter(const char* name) const { return context_->counter_value(name).value_or(0); }
  bool logged(const std::string& text) const { return context_->fake_logger().contains(text); }

  ScratchDir dir_;
  MemoryUserStore store_;
  std::unique_ptr<FakePluginContext> context_;
  std::unique_ptr<Plugin> plugin_;
};

}  // namespace

TEST_F(AuthDigestTest, JoinsTheAuthenticatePhase) {
  ASSERT_EQ(context_->handlers().size(), 1u);
  EXPECT_EQ(context_->handlers()[0].placement.phase, Phase::kAuthenticate);
  EXPECT_EQ(context_->handlers()[0].name, "auth-digest");
}

TEST_F(AuthDigestTest, RegisterWithoutCredentialsIsChallengedWithEachAlgorithm) {
  const Outcome o = run(reg());
  EXPECT_EQ(o.disposition, Disposition::kHandled);
  ASSERT_EQ(o.status(), 401);
  const auto values = o.headers("WWW-Authenticate");
  ASSERT_EQ(values.size(), 2u);
  const auto first = digest::parse(values[0]);
  const auto second = digest::parse(values[1]);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->algorithm, "SHA-256");  // the configured order
  EXPECT_EQ(second->algorithm, "MD5");
  for (const auto& c : {*first, *second}) {
    EXPECT_EQ(c.realm, kRealm);
    EXPECT_EQ(c.qop, "auth");
    EXPECT_FALSE(c.stale);
    EXPECT_FALSE(c.nonce.empty());
  }
  EXPECT_EQ(values[0].rfind("Digest realm=\"C1.D1.H1\", nonce=\"", 0), 0u) << values[0];
  EXPECT_EQ(o.headers("Proxy-Authenticate").size(), 0u);
  EXPECT_EQ(o.identity(), nullptr);
  EXPECT_EQ(counter("challenges_total"), 1u);
  EXPECT_EQ(counter("auth_failed_total"), 0u);  // asking is no failure
  EXPECT_EQ(store_.finds, 0);                   // nor worth a lookup
  const auto lines = context_->log_lines();     // nor a log line (fail2ban would count it)
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.find("refused") != std::string::npos; }),
            0)
      << ::testing::PrintToString(lines);
}

TEST_F(AuthDigestTest, OnlyTheConfiguredAlgorithmsAreOffered) {
  make({{"algorithms", {"MD5"}}});
  const Outcome o = run(reg());
  const auto values = o.headers("WWW-Authenticate");
  ASSERT_EQ(values.size(), 1u);
  EXPECT_NE(values[0].find("algorithm=MD5"), std::string::npos);
  // SHA-256 credentials answering an (invented) SHA-256 challenge are refused.
  auto ch = *digest::parse(values[0]);
  ch.algorithm = "SHA-256";
  const Outcome refused = run(with_answer(reg(), ch, "U1", "pw1", 1));
  EXPECT_EQ(refused.status(), 401);
  EXPECT_TRUE(logged("algorithm SHA-256 not offered"));
}

TEST_F(AuthDigestTest, Sha256AndMd5CredentialsAuthenticateAndSetTheIdentity) {
  uint32_t call = 0;
  for (const auto algorithm : {digest::Algorithm::kSha256, digest::Algorithm::kMd5}) {
    const Outcome o = run(with_credentials(reg().cseq(++call), "U1", "pw1", algorithm));
    EXPECT_EQ(o.disposition, Disposition::kSuspended);
    EXPECT_TRUE(o.incoming->resumed()) << digest::algorithm_name(algorithm);
    EXPECT_EQ(o.reply(), nullptr);
    ASSERT_NE(o.identity(), nullptr);
    EXPECT_EQ(o.identity()->aor, "U1@C1.D1.H1");
    EXPECT_EQ(o.identity()->realm, kRealm);
    EXPECT_EQ(o.identity()->role, "member");
    EXPECT_EQ(o.identity()->scheme, "digest");
  }
  EXPECT_EQ(counter("auth_ok_total"), 2u);
  EXPECT_EQ(counter("auth_failed_total"), 0u);
}

TEST_F(AuthDigestTest, WrongPasswordIsChallengedAgainAndLogged) {
  const Outcome o = run(with_credentials(reg(), "U1", "wrong"));
  EXPECT_EQ(o.status(), 401);
  EXPECT_EQ(o.headers("WWW-Authenticate").size(), 2u);
  EXPECT_FALSE(o.incoming->resumed());
  EXPECT_EQ(o.identity(), nullptr);
  EXPECT_TRUE(
      logged("info: refused method=REGISTER aor=U1@C1.D1.H1 source=udp:192.0.2.7:5060 status=401 "
             "reason=\"wrong password\""))
      << ::testing::PrintToString(context_->log_lines());
  EXPECT_EQ(counter("auth_failed_total"), 1u);
  EXPECT_EQ(counter("auth_ok_total"), 0u);
}

TEST_F(AuthDigestTest, UnknownUserIsChallengedAndLogged) {
  const Outcome o = run(with_credentials(reg("U9@C1.D1.H1"), "U9", "pw"));
  EXPECT_EQ(o.status(), 401);
  EXPECT_TRUE(
      logged("refused method=REGISTER aor=U9@C1.D1.H1 source=udp:192.0.2.7:5060 status=401 "
             "reason=\"unknown user\""));
  EXPECT_EQ(counter("auth_failed_total"), 1u);
}

TEST_F(AuthDigestTest, ExpiredNonceGetsAStaleChallenge) {
  const auto ch = challenge_for(reg(), digest::Algorithm::kSha256);
  context_->manual_loop().set_unix_now(kNow + 301);
  const Outcome o = run(with_answer(reg(), ch, "U1", "pw1", 1));
  EXPECT_EQ(o.status(), 401);
  const auto values = o.headers("WWW-Authenticate");
  ASSERT_EQ(values.size(), 2u);
  for (const auto& v : values) {
    const auto c = digest::parse(v);
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->stale);
    EXPECT_NE(c->nonce, ch.nonce);
  }
  EXPECT_EQ(counter("auth_failed_total"), 0u);  // an old nonce is no attack
  // The new nonce works.
  const Outcome again = run(with_answer(reg(), *digest::parse(values[0]), "U1", "pw1", 1));
  EXPECT_TRUE(again.incoming->resumed());
}

TEST_F(AuthDigestTest, ForgedNonceIsRefused) {
  auto ch = challenge_for(reg(), digest::Algorithm::kSha256);
  ch.nonce = digest::NonceFactory(std::string(32, 'z')).make(kRealm, kNow);
  const Outcome o = run(with_answer(reg(), ch, "U1", "pw1", 1));
  EXPECT_EQ(o.status(), 401);
  for (const auto& v : o.headers("WWW-Authenticate")) EXPECT_FALSE(digest::parse(v)->stale);
  EXPECT_TRUE(
      logged("refused method=REGISTER aor=U1@C1.D1.H1 source=udp:192.0.2.7:5060 status=401 "
             "reason=\"forged nonce\""));
  EXPECT_EQ(store_.finds, 0);
}

TEST_F(AuthDigestTest, ReplayedNonceCountIsRefused) {
  const auto ch = challenge_for(reg(), digest::Algorithm::kSha256);
  EXPECT_TRUE(run(with_answer(reg().cseq(2), ch, "U1", "pw1", 1)).incoming->resumed());
  // The same Authorization again (an eavesdropper's copy).
  const Outcome replay = run(with_answer(reg().cseq(3).call_id("other"), ch, "U1", "pw1", 1));
  EXPECT_EQ(replay.status(), 401);
  EXPECT_TRUE(
      logged("refused method=REGISTER aor=U1@C1.D1.H1 source=udp:192.0.2.7:5060 status=401 "
             "reason=\"replayed nonce count\""));
  // nc going down is a replay too; going up is the client's next request.
  EXPECT_TRUE(run(with_answer(reg().cseq(4), ch, "U1", "pw1", 5)).incoming->resumed());
  EXPECT_EQ(run(with_answer(reg().cseq(5), ch, "U1", "pw1", 4)).status(), 401);
  EXPECT_TRUE(run(with_answer(reg().cseq(6), ch, "U1", "pw1", 6)).incoming->resumed());
  EXPECT_EQ(counter("auth_failed_total"), 2u);
}

// Nonces are per challenge: two phones challenged in one second both start at nc=1.
TEST_F(AuthDigestTest, TwoClientsChallengedInOneSecondDoNotShareNonceCounts) {
  const auto a = challenge_for(reg(), digest::Algorithm::kSha256);
  const auto b = challenge_for(reg("U2@C1.D1.H1"), digest::Algorithm::kSha256);
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_TRUE(run(with_answer(reg(), a, "U1", "pw1", 1)).incoming->resumed());
  EXPECT_TRUE(run(with_answer(reg("U2@C1.D1.H1"), b, "U2", "pw2", 1)).incoming->resumed());
  EXPECT_EQ(counter("auth_failed_total"), 0u);
}

TEST_F(AuthDigestTest, NonceCountMemoryIsBounded) {
  auth_digest::NonceCounts counts(100, 300);
  for (int i = 0; i < 150; ++i)
    EXPECT_EQ(counts.use("nonce-" + std::to_string(i), kNow + i, 1, kNow + i),
              auth_digest::NonceCounts::Use::kAccepted);
  EXPECT_EQ(counts.size(), 100u);
  // nonce-0 was forgotten: not accepted again as new, answered stale.
  EXPECT_EQ(counts.use("nonce-0", kNow, 2, kNow + 150), auth_digest::NonceCounts::Use::kForgotten);
  EXPECT_EQ(counts.use("nonce-149", kNow + 149, 1, kNow + 150), auth_digest::NonceCounts::Use::kReplayed);
  EXPECT_EQ(counts.use("nonce-200", kNow + 150, 1, kNow + 150), auth_digest::NonceCounts::Use::kAccepted);
  // Past their lifetime, entries go.
  EXPECT_EQ(counts.use("late", kNow + 1000, 1, kNow + 1000), auth_digest::NonceCounts::Use::kAccepted);
  EXPECT_EQ(counts.size(), 1u);
}

// A nonce checked in time whose count is used after its lifetime (the user
// store answered across a second): its entry went with the lifetime, so a
// replay would look new. It is answered stale instead.
TEST_F(AuthDigestTest, ANonceCountUsedPastTheNonceLifetimeIsStaleNotAccepted) {
  auth_digest::NonceCounts counts(100, 300);
  EXPECT_EQ(counts.use("victim", kNow, 1, kNow + 300), auth_digest::NonceCounts::Use::kAccepted);
  EXPECT_EQ(counts.use("victim", kNow, 1, kNow + 301), auth_digest::NonceCounts::Use::kForgotten);
  EXPECT_EQ(counts.use("victim", kNow, 2, kNow + 301), auth_digest::NonceCounts::Use::kForgotten);
}

TEST_F(AuthDigestTest, UriThatIsNotTheRequestUriIsRefused) {
  const Outcome o = run(with_credentials(reg(), "U1", "pw1", digest::Algorithm::kSha256, 1, "sip:C1.D1.H2"));
  EXPECT_EQ(o.status(), 400);
  EXPECT_FALSE(o.incoming->resumed());
  EXPECT_TRUE(logged("digest uri does not match the Request-URI"));
  // The same URI written with its default port is the same URI.
  EXPECT_TRUE(
      run(with_credentials(reg().cseq(2), "U1", "pw1", digest::Algorithm::kSha256, 1, "sip:c1.d1.h1:5060"))
          .incoming->resumed());
}

TEST_F(AuthDigestTest, RegisterForSomeoneElsesAorIsForbidden) {
  // U1's good credentials on a REGISTER (or a Contact: * removal) of U2's AOR.
  for (const bool wildcard : {false, true}) {
    RequestBuilder other =
        RequestBuilder::registration("U2@C1.D1.H1").call_id("c-" + std::to_string(wildcard));
    if (wildcard)
      other.contact("*").expires(0);
    else
      other.contact("<sip:evil@203.0.113.5>");
    const Outcome o = run(with_credentials(other, "U1", "pw1"));
    EXPECT_EQ(o.status(), 403);
    EXPECT_EQ(o.reply()->reason, "Not Your Binding");
    EXPECT_FALSE(o.incoming->resumed());
  }
  EXPECT_TRUE(
      logged("refused method=REGISTER aor=U2@C1.D1.H1 source=udp:192.0.2.7:5060 status=403 "
             "reason=\"authenticated as U1@C1.D1.H1, not its binding\""));
  EXPECT_EQ(counter("auth_ok_total"), 0u);
}

TEST_F(AuthDigestTest, RegisterForAnotherDomainPassesUntouched) {
  const Outcome o = run(reg("U1@C1.D1.H2"));
  EXPECT_EQ(o.disposition, Disposition::kContinue);
  EXPECT_EQ(o.reply(), nullptr);
  EXPECT_EQ(counter("challenges_total"), 0u);
  // Nor is an INVITE that does not come through us as outbound proxy.
  const Outcome invite =
      run(RequestBuilder().method(Method::kInvite).uri("sip:U2@C1.D1.H1").to("sip:U2@C1.D1.H1"));
  EXPECT_EQ(invite.disposition, Disposition::kContinue);
}

TEST_F(AuthDigestTest, RoutedInviteNeedsProxyCredentials) {
  const RequestBuilder invite = RequestBuilder()
                                    .method(Method::kInvite)
                                    .uri("sip:U5@C1.D2.H2")
                                    .from("sip:U1@C1.D1.H1")
                                    .to("sip:U5@C1.D2.H2")
                                    .routed_here();
  const Outcome challenged = run(invite);
  EXPECT_EQ(challenged.status(), 407);
  EXPECT_EQ(challenged.headers("Proxy-Authenticate").size(), 2u);
  EXPECT_EQ(challenged.headers("WWW-Authenticate").size(), 0u);
  // WWW credentials are not what a proxy asks for.
  const auto ch = digest::parse(challenged.headers("Proxy-Authenticate")[0]);
  ASSERT_TRUE(ch);
  EXPECT_EQ(run(with_answer(invite, *ch, "U1", "pw1", 1, "sip:U5@C1.D2.H2", "INVITE")).status(), 407);

  const Outcome o = run(
      with_credentials(invite, "U1", "pw1", digest::Algorithm::kMd5, 1, "sip:U5@C1.D2.H2", "INVITE", true));
  EXPECT_TRUE(o.incoming->resumed());
  ASSERT_NE(o.identity(), nullptr);
  EXPECT_EQ(o.identity()->aor, "U1@C1.D1.H1");

  // Off: routed requests are not challenged as such; one From a user of the
  // realm still proves the claim (401), one from elsewhere passes.
  make({{"proxy_auth", false}});
  EXPECT_EQ(run(invite).status(), 401);
  RequestBuilder foreign = invite;
  EXPECT_EQ(run(foreign.from("sip:U5@C1.D2.H2")).disposition, Disposition::kContinue);
}

// Routed here only to reach a user of the realm (the caller's family server
// followed our 302 through us to a phone's flow), or back along our own
// Record-Route towards a flow: we are the callee's server, not the sender's
// proxy, so an outsider is not challenged (the policy judges the call as any
// call to our users). What goes elsewhere still needs proxy credentials, and
// a sender claiming a user of the realm still proves it.
TEST_F(AuthDigestTest, ACallRoutedHereForAUserOfTheRealmIsNoProxyUse) {
  const RequestBuilder incoming_call = RequestBuilder()
                                           .method(Method::kInvite)
                                           .uri("sip:U1@C1.D1.H1")
                                           .from("sip:U5@C1.D2.H2")
                                           .to("sip:U1@C1.D1.H1")
                                           .routed_here();
  EXPECT_EQ(run(incoming_call).disposition, Disposition::kContinue);
  const RequestBuilder in_dialog = RequestBuilder()
                                       .method(Method::kBye)
                                       .uri("sip:U1-x@127.0.0.1:5071;transport=tls")
                                       .from("sip:U5@C1.D2.H2")
                                       .to("sip:U1@C1.D1.H1")
                                       .routed_here()
                                       .flow("tls:127.0.0.1:40112");
  EXPECT_EQ(run(in_dialog).disposition, Disposition::kContinue);
  RequestBuilder not_on_a_flow = in_dialog;
  EXPECT_EQ(run(not_on_a_flow.flow("")).status(), 407);
  // A flow naming the sender's own connection is no phone of ours.
  RequestBuilder own_flow = in_dialog;
  EXPECT_EQ(run(own_flow.source("tls", "127.0.0.1", 40112)).status(), 407);
  RequestBuilder claims_the_realm = incoming_call;
  EXPECT_EQ(run(claims_the_realm.from("sip:U2@C1.D1.H1")).status(), 407);
  // Routed on after us: whatever the Request-URI, that is using us as a proxy.
  RequestBuilder routed_on = incoming_call;
  EXPECT_EQ(run(routed_on.header("Route", "<sip:192.0.2.66;lr>")).status(), 407);
  RequestBuilder flow_routed_on = in_dialog;
  EXPECT_EQ(run(flow_routed_on.header("Route", "<sip:192.0.2.66;lr>")).status(), 407);
  // The ACK of such a call goes on (it has no credentials to give); one
  // routed on after us without credentials ends here.
  const Outcome ack = run(RequestBuilder()
                              .method(Method::kAck)
                              .uri("sip:U1@C1.D1.H1")
                              .from("sip:U5@C1.D2.H2")
                              .to("sip:U1@C1.D1.H1")
                              .routed_here());
  EXPECT_EQ(ack.disposition, Disposition::kContinue);
  const Outcome ack_on = run(RequestBuilder()
                                 .method(Method::kAck)
                                 .uri("sip:U1@C1.D1.H1")
                                 .from("sip:U5@C1.D2.H2")
                                 .to("sip:U1@C1.D1.H1")
                                 .header("Route", "<sip:192.0.2.66;lr>")
                                 .routed_here());
  EXPECT_EQ(ack_on.disposition, Disposition::kHandled);
}

TEST_F(AuthDigestTest, AckWithCredentialsAndCancelPass) {
  const auto ack = RequestBuilder()
                       .method(Method::kAck)
                       .uri("sip:U5@C1.D2.H2")
                       .to("sip:U5@C1.D2.H2")
                       .header("Proxy-Authorization", "Digest username=\"U1\"")
                       .routed_here();
  const auto cancel = RequestBuilder().method(Method::kCancel).uri("sip:U5@C1.D2.H2").routed_here();
  for (const RequestBuilder& builder : {ack, cancel}) {
    const Outcome o = run(builder);
    EXPECT_EQ(o.disposition, Disposition::kContinue);
    EXPECT_EQ(o.reply(), nullptr);
  }
}

// The ACK of this server's own 407 carries no credentials: it goes no further.
TEST_F(AuthDigestTest, RoutedAckWithoutCredentialsEndsHere) {
  const Outcome o =
      run(RequestBuilder().method(Method::kAck).uri("sip:U5@C1.D2.H2").to("sip:U5@C1.D2.H2").routed_here());
  EXPECT_EQ(o.disposition, Disposition::kHandled);
  EXPECT_EQ(o.reply(), nullptr);
  EXPECT_TRUE(o.incoming->forwards().empty());
}

TEST_F(AuthDigestTest, StoreDownAnswers503WithRetryAfter) {
  const auto request = with_credentials(reg(), "U1", "pw1");
  store_.down = true;
  const Outcome o = run(request);
  EXPECT_EQ(o.status(), 503);
  EXPECT_EQ(o.headers("Retry-After"), std::vector<std::string>{"5"});
  EXPECT_FALSE(o.incoming->resumed());
}

TEST_F(AuthDigestTest, MalformedCredentialsAreChallengedAndLogged) {
  const Outcome o = run(reg().header("Authorization", "Digest username=\"U1"));
  EXPECT_EQ(o.status(), 401);
  EXPECT_TRUE(
      logged("refused method=REGISTER aor=U1@C1.D1.H1 source=udp:192.0.2.7:5060 status=401 "
             "reason=\"malformed credentials\""));
  // Credentials for another realm are not ours: a plain challenge.
  const Outcome other = run(reg().header("Authorization", "Digest username=\"U1\", realm=\"elsewhere\""));
  EXPECT_EQ(other.status(), 401);
  EXPECT_EQ(counter("auth_failed_total"), 1u);
}

TEST_F(AuthDigestTest, WhatASenderWroteIsEscapedInTheLog) {
  auto ch = challenge_for(reg(), digest::Algorithm::kSha256);
  const Outcome o = run(with_answer(reg(), ch, "U1 from udp:6.6.6.6:1\nx", "pw", 1));
  EXPECT_EQ(o.status(), 401);
  EXPECT_TRUE(
      logged("refused method=REGISTER aor=U1%20from%20udp%3A6.6.6.6%3A1%0Ax@C1.D1.H1 "
             "source=udp:192.0.2.7:5060 status=401"))
      << ::testing::PrintToString(context_->log_lines());
}

TEST_F(AuthDigestTest, SecretFileIsCreatedOwnerOnlyAndKeptAcrossRestarts) {
  struct stat st {};
  ASSERT_EQ(::stat(dir_.file("secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  // A nonce of this instance is valid at the next one (the same file).
  const auto ch = challenge_for(reg(), digest::Algorithm::kSha256);
  make();
  EXPECT_TRUE(run(with_answer(reg(), ch, "U1", "pw1", 1)).incoming->resumed());
}

TEST_F(AuthDigestTest, SecretFileOthersMayReadIsRefused) {
  for (const mode_t mode : {0640, 0604, 0620}) {
    const std::string path = dir_.file("shared-" + std::to_string(mode));
    std::ofstream(path) << std::string(32, 's');
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    try {
      auth_digest::load_or_create_secret(path);
      ADD_FAILURE() << "mode " << mode << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "secret_file");
      EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
    }
    EXPECT_THROW(make({{"secret_file", path}}), ConfigError);
  }
  const std::string small = dir_.file("small");
  std::ofstream(small) << "short";
  ::chmod(small.c_str(), 0600);
  EXPECT_THROW(auth_digest::load_or_create_secret(small), ConfigError);
  EXPECT_THROW(auth_digest::load_or_create_secret(dir_.file("no-such-dir/secret")), ConfigError);
}

TEST_F(AuthDigestTest, CheckSettingsRefusesWhatCannotWork) {
  const auto key_of = [&](testkit::SettingValues extra) -> std::string {
    testkit::SettingValues values{{"realm", kRealm}, {"secret_file", dir_.file("secret")}};
    for (auto& [key, value] : extra) values.insert_or_assign(key, value);
    try {
      FakePluginContext context(*homesip_plugin_descriptor(), values);
    } catch (const ConfigError& e) {
      return e.key();
    }
    return "";
  };
  EXPECT_EQ(key_of({}), "");
  EXPECT_EQ(key_of({{"algorithms", {"SHA-1"}}}), "algorithms");
  EXPECT_EQ(key_of({{"algorithms", {"MD5-sess"}}}), "algorithms");
  EXPECT_EQ(key_of({{"algorithms", {"MD5", "md5"}}}), "algorithms");
  EXPECT_EQ(key_of({{"algorithms", std::vector<std::string>{}}}), "algorithms");
  EXPECT_EQ(key_of({{"nonce_lifetime", 5}}), "nonce_lifetime");
  EXPECT_EQ(key_of({{"nonce_lifetime", 100000}}), "nonce_lifetime");
  EXPECT_EQ(key_of({{"replay_window_entries", 10}}), "replay_window_entries");
  EXPECT_EQ(key_of({{"realm", "C1\"D1"}}), "realm");
  EXPECT_EQ(key_of({{"realm", "C1 D1"}}), "realm");
  // secret_file is required.
  try {
    FakePluginContext context(*homesip_plugin_descriptor(), {{"realm", kRealm}});
    ADD_FAILURE() << "no secret_file accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "secret_file");
  }
}

TEST_F(AuthDigestTest, RealmComesFromTheTreeOrIsRequired) {
  {
    FakePluginContext context(*homesip_plugin_descriptor(), {{"secret_file", dir_.file("secret")}});
    context.add_service<UserStore>(store_);
    try {
      context.create_plugin();
      ADD_FAILURE() << "no realm and no tree accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "realm");
    }
  }
  FakeTree tree(ServerIdentity{"H1", "C1.D1"});
  {
    FakePluginContext context(*homesip_plugin_descriptor(), {{"secret_file", dir_.file("secret")}});
    context.add_service<UserStore>(store_);
    context.add_service<TreeService>(tree);
    context.manual_loop().set_unix_now(kNow);
    auto plugin = context.create_plugin();
    FakeIncomingRequest incoming(reg().build(), context.manual_loop());
    context.handlers().at(0).handler->on_request(incoming);
    ASSERT_NE(incoming.last_reply(), nullptr);
    EXPECT_NE(incoming.last_reply()->headers.at(0).second.find("realm=\"C1.D1.H1\""), std::string::npos);
  }
  {
    FakePluginContext context(*homesip_plugin_descriptor(),
                              {{"secret_file", dir_.file("secret")}, {"realm", "C1.D1.H7"}});
    context.add_service<UserStore>(store_);
    context.add_service<TreeService>(tree);
    try {
      context.create_plugin();
      ADD_FAILURE() << "a realm other than the tree's accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "realm");
    }
  }
}

TEST_F(AuthDigestTest, UserCommandsPutListAndDelete) {
  store_.users.clear();
  const std::string md5 = digest::ha1(digest::Algorithm::kMd5, "U3", kRealm, "pw3");
  const std::string sha = digest::ha1(digest::Algorithm::kSha256, "U3", kRealm, "pw3");
  auto r = context_->run_command("user-put", {"U3@C1.D1.H1", "owner", "MD5:" + md5, "SHA-256:" + sha});
  ASSERT_TRUE(r.ok) << r.text;
  EXPECT_EQ(r.text, "{\"aor\":\"U3@C1.D1.H1\",\"role\":\"owner\",\"algorithms\":[\"MD5\",\"SHA-256\"]}");
  ASSERT_EQ(store_.users.count("U3@C1.D1.H1"), 1u);
  const UserRecord& stored = store_.users["U3@C1.D1.H1"];
  EXPECT_EQ(stored.domain, kRealm);
  EXPECT_EQ(stored.role, "owner");
  ASSERT_EQ(stored.credentials.size(), 2u);
  EXPECT_EQ(stored.credentials[0].realm, kRealm);
  EXPECT_EQ(stored.credentials[0].ha1, md5);
  EXPECT_EQ(stored.credentials[1].algorithm, "SHA-256");

  // The user put by command authenticates.
  EXPECT_TRUE(run(with_credentials(reg("U3@C1.D1.H1"), "U3", "pw3")).incoming->resumed());

  // Replacing keeps one user.
  r = context_->run_command("user-put", {"U3@C1.D1.H1", "guest", "md5:" + md5});
  ASSERT_TRUE(r.ok) << r.text;
  EXPECT_EQ(store_.users["U3@C1.D1.H1"].credentials.size(), 1u);

  r = context_->run_command("user-list");
  ASSERT_TRUE(r.ok) << r.text;
  EXPECT_EQ(r.text, "[{\"aor\":\"U3@C1.D1.H1\",\"role\":\"guest\",\"algorithms\":[\"MD5\"]}]");
  EXPECT_EQ(r.text.find(md5), std::string::npos);
  EXPECT_EQ(context_->run_command("user-list", {"C1.D1.H9"}).text, "[]");

  r = context_->run_command("user-del", {"U3@C1.D1.H1"});
  ASSERT_TRUE(r.ok) << r.text;
  EXPECT_EQ(r.text, "{\"aor\":\"U3@C1.D1.H1\",\"removed\":true}");
  EXPECT_EQ(store_.users.count("U3@C1.D1.H1"), 0u);
  EXPECT_EQ(context_->run_command("user-del", {"U3@C1.D1.H1"}).text,
            "{\"aor\":\"U3@C1.D1.H1\",\"removed\":false}");
}

TEST_F(AuthDigestTest, UserCommandsRefuseBadArguments) {
  const std::string md5 = digest::ha1(digest::Algorithm::kMd5, "U3", kRealm, "pw3");
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"U3@C1.D1.H1", "owner"},                              // no credentials
      {"U3@C1.D1.H1", "admin", "MD5:" + md5},                // no such role
      {"U3", "owner", "MD5:" + md5},                         // not an AOR
      {"U3@C1.D1.H9", "owner", "MD5:" + md5},                // another realm
      {"U3@C1.D1.H1", "owner", "SHA-1:" + md5},              // no such algorithm
      {"U3@C1.D1.H1", "owner", "MD5:" + md5.substr(1)},      // short
      {"U3@C1.D1.H1", "owner", "SHA-256:" + md5},            // MD5's length
      {"U3@C1.D1.H1", "owner", "MD5:" + md5, "MD5:" + md5},  // twice
      {"U3@C1.D1.H1", "owner", "password"},                  // a password is never taken
  };
  for (const auto& arguments : bad) {
    const auto r = context_->run_command("user-put", arguments);
    EXPECT_TRUE(r.answered);
    EXPECT_FALSE(r.ok) << ::testing::PrintToString(arguments) << " -> " << r.text;
  }
  EXPECT_EQ(store_.users.count("U3@C1.D1.H1"), 0u);
  store_.down = true;
  const auto r = context_->run_command("user-list");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.text, "the user store is unavailable");
}

// auth-tls (order -10) ran first and proved who sent it: nothing to challenge.
TEST_F(AuthDigestTest, RequestAlreadyIdentifiedIsNotChallenged) {
  const auto identified = [&](const RequestBuilder& builder) {
    Outcome o{Disposition::kContinue,
              std::make_shared<FakeIncomingRequest>(builder.build(), context_->manual_loop())};
    o.incoming->attributes().set(kAuthenticatedIdentity,
                                 AuthenticatedIdentity{"U1@C1.D1.H1", kRealm, "server", "tls-certificate"});
    o.disposition = context_->handlers().at(0).handler->on_request(*o.incoming);
    return o;
  };
  const Outcome own = identified(reg());
  EXPECT_EQ(own.disposition, Disposition::kContinue);
  EXPECT_EQ(own.reply(), nullptr);
  const Outcome message = identified(RequestBuilder()
                                         .method(Method::kMessage)
                                         .uri("sip:lamp@C1.D1.H1")
                                         .from("sip:U1@C1.D1.H1")
                                         .to("sip:lamp@C1.D1.H1")
                                         .routed_here());
  EXPECT_EQ(message.disposition, Disposition::kContinue);
  // One's own bindings only, however one was identified.
  EXPECT_EQ(identified(reg("U2@C1.D1.H1")).status(), 403);
  EXPECT_EQ(counter("challenges_total"), 0u);
  EXPECT_EQ(store_.finds, 0);
}

// A request whose From claims one of the realm's users is challenged (401):
// the claim is proven or refused. Others go on unauthenticated.
TEST_F(AuthDigestTest, RequestClaimingToBeOneOfOursIsChallenged) {
  const RequestBuilder message = RequestBuilder()
                                     .method(Method::kMessage)
                                     .uri("sip:lamp@C1.D1.H1")
                                     .from("sip:U1@C1.D1.H1")
                                     .to("sip:lamp@C1.D1.H1")
                                     .body("text/plain", "on");
  const Outcome challenged = run(message);
  EXPECT_EQ(challenged.status(), 401);
  EXPECT_EQ(challenged.headers("WWW-Authenticate").size(), 2u);
  // Proven: the identity is set, and a MESSAGE to the lamp is no binding of anyone's.
  const Outcome proven = run(
      with_credentials(message, "U1", "pw1", digest::Algorithm::kSha256, 1, "sip:lamp@C1.D1.H1", "MESSAGE"));
  EXPECT_TRUE(proven.incoming->resumed());
  ASSERT_NE(proven.identity(), nullptr);
  EXPECT_EQ(proven.identity()->aor, "U1@C1.D1.H1");
  // From another family: not ours to verify.
  RequestBuilder outside = message;
  outside.from("sip:U9@C9.D9.H9");
  const Outcome passed = run(outside);
  EXPECT_EQ(passed.disposition, Disposition::kContinue);
  EXPECT_EQ(passed.reply(), nullptr);
  // ACK and CANCEL cannot answer; a child server's lookup of another domain is redirected alike for anyone.
  for (const Method method : {Method::kAck, Method::kCancel}) {
    RequestBuilder b = message;
    EXPECT_EQ(run(b.method(method)).disposition, Disposition::kContinue);
  }
  EXPECT_EQ(run(RequestBuilder()
                    .method(Method::kOptions)
                    .uri("sip:U5@C1.D1.H1.X")
                    .from("sip:U1@C1.D1.H1")
                    .to("sip:U5@C1.D1.H1.X"))
                .disposition,
            Disposition::kContinue);
  // A lookup of one of our users From one of ours: proven or refused.
  EXPECT_EQ(run(RequestBuilder()
                    .method(Method::kOptions)
                    .uri("sip:U2@C1.D1.H1")
                    .from("sip:U1@C1.D1.H1")
                    .to("sip:U2@C1.D1.H1"))
                .status(),
            401);
}

TEST_F(AuthDigestTest, RepeatedFailuresBanTheSource) {
  make({{"ban_after_failures", 3}, {"ban_window", 60}, {"ban_seconds", 600}});
  const auto from = [](const std::string& ip, RequestBuilder b) { return b.source("udp", ip, 5070); };
  // A replay is no failed authentication (a lost answer's retransmission looks like one).
  const auto ch = challenge_for(from("127.0.0.5", reg()), digest::Algorithm::kSha256);
  EXPECT_TRUE(run(with_answer(from("127.0.0.5", reg()), ch, "U1", "pw1", 1)).incoming->resumed());
  EXPECT_EQ(run(with_answer(from("127.0.0.5", reg().cseq(2)), ch, "U1", "pw1", 1)).status(), 401);
  // Wrong password, unknown user, wrong password: banned at the third.
  EXPECT_EQ(run(with_credentials(from("127.0.0.5", reg()), "U1", "bad")).status(), 401);
  EXPECT_EQ(run(with_credentials(from("127.0.0.5", reg("U9@C1.D1.H1")), "U9", "x")).status(), 401);
  EXPECT_EQ(counter("bans_total"), 0u);
  EXPECT_EQ(run(with_credentials(from("127.0.0.5", reg()), "U1", "bad")).status(), 401);
  EXPECT_EQ(counter("bans_total"), 1u);
  const auto lines = context_->log_lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) {
                            return l == "info: banned ip=127.0.0.5 seconds=600 failures=3 window_seconds=60";
                          }),
            1)
      << ::testing::PrintToString(lines);
  // Banned: even good credentials get nowhere, without a nonce or a lookup.
  const int finds = store_.finds;
  const uint64_t challenges = counter("challenges_total");
  const auto good = with_answer(from("127.0.0.5", reg().cseq(9)), ch, "U1", "pw1", 7);
  const Outcome dropped = run(good);
  EXPECT_EQ(dropped.disposition, Disposition::kHandled);
  EXPECT_TRUE(dropped.incoming->discarded());
  EXPECT_EQ(dropped.incoming->replies().size(), 0u);
  EXPECT_EQ(counter("banned_requests_total"), 1u);
  EXPECT_FALSE(dropped.incoming->resumed());
  EXPECT_EQ(dropped.headers("WWW-Authenticate").size(), 0u);
  EXPECT_EQ(store_.finds, finds);
  EXPECT_EQ(counter("challenges_total"), challenges);
  EXPECT_EQ(
      run(from("127.0.0.5", RequestBuilder().method(Method::kOptions).uri("sip:x@elsewhere"))).disposition,
      Disposition::kHandled);
  // Others are not banned with it; after ban_seconds neither is it.
  EXPECT_EQ(run(from("127.0.0.6", reg())).status(), 401);
  context_->manual_loop().set_unix_now(kNow + 600);
  EXPECT_EQ(run(from("127.0.0.5", reg())).status(), 401);
  EXPECT_EQ(counter("bans_total"), 1u);
}

// A UDP source can be forged: answers with a nonce that was sent to another
// address (the attacker's own) get a fresh challenge for their source before
// any password is compared, so they neither ban the forged source nor let
// anyone guess unbanned; the same answers from where the nonce went count.
TEST_F(AuthDigestTest, OnlyFailuresFromWhereTheNonceWentCountTowardABan) {
  make({{"ban_after_failures", 2}, {"ban_window", 60}, {"ban_seconds", 600}});
  const auto from = [](const std::string& ip, RequestBuilder b) { return b.source("udp", ip, 5070); };
  const auto attackers = challenge_for(from("127.0.0.66", reg()), digest::Algorithm::kSha256);
  const int finds = store_.finds;
  for (uint32_t nc = 1; nc <= 5; ++nc) {
    const Outcome o = run(with_answer(from("127.0.0.31", reg().cseq(nc)), attackers, "U1", "pw1", nc));
    EXPECT_EQ(o.status(), 401);
    ASSERT_FALSE(o.headers("WWW-Authenticate").empty());
    EXPECT_NE(o.headers("WWW-Authenticate").front().find("stale=true"), std::string::npos);
  }
  EXPECT_EQ(store_.finds, finds);  // no password compared, not even the right one
  EXPECT_EQ(counter("bans_total"), 0u);
  EXPECT_EQ(counter("auth_failed_total"), 0u);
  // The victim still gets in.
  EXPECT_TRUE(run(with_credentials(from("127.0.0.31", reg().cseq(9)), "U1", "pw1")).incoming->resumed());
  // Its own nonce, answered wrongly twice from where it went: banned.
  EXPECT_EQ(run(with_answer(from("127.0.0.66", reg().cseq(10)), attackers, "U1", "bad", 6)).status(), 401);
  EXPECT_EQ(run(with_answer(from("127.0.0.66", reg().cseq(11)), attackers, "U1", "bad", 7)).status(), 401);
  EXPECT_EQ(counter("bans_total"), 1u);
  EXPECT_TRUE(context_->fake_logger().contains("info: banned ip=127.0.0.66 seconds=600"));
}

TEST_F(AuthDigestTest, FailuresOutsideTheWindowDoNotBan) {
  auth_digest::FailureBans bans({3, 60, 600, 10000});
  EXPECT_FALSE(bans.fail("127.0.0.5", kNow));
  EXPECT_FALSE(bans.fail("127.0.0.5", kNow + 30));
  EXPECT_FALSE(bans.fail("127.0.0.5", kNow + 61));  // the window starts again
  EXPECT_FALSE(bans.fail("127.0.0.5", kNow + 62));
  EXPECT_TRUE(bans.fail("127.0.0.5", kNow + 63));
  EXPECT_TRUE(bans.banned("127.0.0.5", kNow + 662));
  EXPECT_FALSE(bans.banned("127.0.0.5", kNow + 663));
  auth_digest::FailureBans never({0, 60, 600, 10000});
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(never.fail("127.0.0.5", kNow));
}

TEST_F(AuthDigestTest, BanMemoryIsBounded) {
  auth_digest::FailureBans bans({2, 60, 600, 100});
  for (int i = 0; i < 1000; ++i) bans.fail("10.0.0." + std::to_string(i), kNow);
  EXPECT_EQ(bans.size(), 100u);
  // A source still counting keeps its count while there is room.
  EXPECT_TRUE(bans.fail("10.0.0.999", kNow));
  EXPECT_TRUE(bans.banned("10.0.0.999", kNow));
}
