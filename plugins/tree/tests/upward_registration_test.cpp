// UpwardRegistration on the SDK test kit: a FakeClient the test answers and a
// ManualLoop whose clock moves by hand (ported from the core's
// UpstreamRegistrationTest, plus jitter and Retry-After).
#include "upward_registration.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "homesip/digest/digest.hpp"
#include "homesip/testkit/testkit.hpp"

using namespace homesip;
using namespace homesip::testkit;
using namespace homesip::tree;
using namespace std::chrono_literals;

namespace {

const std::string kTop = "sip:127.0.0.1:5110";
const std::string kParent = "sip:D1@127.0.0.1:5120";

struct UpwardRegistrationTest : ::testing::Test {
  ManualLoop loop;
  FakeClient client;
  FakeLogger log;
  double random = 0.5;  // the middle of the jitter range: waits are the plain backoff

  UpwardSettings settings(uint32_t expires = 300) {
    UpwardSettings up;
    up.aor = "H1@C1.D1";
    up.contact = "sip:H1@127.0.0.1:5130";
    up.top = kTop;
    up.user_agent = "homesipd/0.1.0";
    up.expires = expires;
    return up;
  }
  std::unique_ptr<UpwardRegistration> make(uint32_t expires = 300) {
    return std::make_unique<UpwardRegistration>(client, loop, settings(expires), log,
                                                [this] { return random; });
  }
  const FakeClient::Sent& sent(size_t i) { return client.sent().at(i); }
  std::string header(size_t i, std::string_view name) {
    for (const auto& [n, v] : sent(i).request.headers)
      if (n == name) return v;
    return "<none>";
  }
  void answer(size_t i, const ResponseBuilder& response) { ASSERT_TRUE(client.answer(i, *response.build())); }
};

}  // namespace

TEST_F(UpwardRegistrationTest, FollowsThe302RefreshesInOneCallAndUnregistersOnStop) {
  auto up = make();
  up->start();
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistering);
  ASSERT_EQ(client.sent().size(), 1u);
  EXPECT_EQ(sent(0).request.request_uri, kTop);
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  ASSERT_EQ(client.sent().size(), 2u);
  EXPECT_EQ(sent(1).request.request_uri, kParent);
  answer(1, ResponseBuilder(200).contact("<sip:H1@127.0.0.1:5130>;expires=3"));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
  EXPECT_EQ(up->registrar(), kParent);  // the server that said 200 is the parent

  // Granted 3 s: the refresh goes to the parent after 2 s, not to the top.
  loop.advance(1999ms);
  EXPECT_EQ(client.sent().size(), 2u);
  loop.advance(1ms);
  ASSERT_EQ(client.sent().size(), 3u);
  EXPECT_EQ(sent(2).request.request_uri, kParent);
  answer(2, ResponseBuilder(200).contact("<sip:H1@127.0.0.1:5130>;expires=3"));

  up->stop();
  EXPECT_EQ(up->state(), UpwardRegistration::State::kStopped);
  EXPECT_TRUE(up->unregistering());
  ASSERT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(sent(3).request.request_uri, kParent);
  answer(3, ResponseBuilder(200));
  EXPECT_FALSE(up->unregistering());
  EXPECT_TRUE(log.contains("unregistered H1@C1.D1"));

  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(sent(i).request.method, "REGISTER") << i;
    EXPECT_EQ(sent(i).request.to, "<sip:H1@C1.D1>") << i;
    EXPECT_EQ(header(i, "Contact"), "<sip:H1@127.0.0.1:5130>") << i;
    EXPECT_EQ(header(i, "User-Agent"), "homesipd/0.1.0") << i;  // the parent probes child servers
    EXPECT_EQ(sent(i).call_id, sent(0).call_id) << i;           // one registration
    EXPECT_EQ(sent(i).request.from, sent(0).request.from) << i;
    if (i > 0) {
      EXPECT_GT(sent(i).cseq, sent(i - 1).cseq) << i;
    }
  }
  EXPECT_EQ(header(0, "Expires"), "300");
  EXPECT_EQ(header(2, "Expires"), "300");
  EXPECT_EQ(header(3, "Expires"), "0");  // the goodbye
}

TEST_F(UpwardRegistrationTest, AFailureStartsAgainFromTheTopAfterABackoffThatDoubles) {
  auto up = make(60);
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  answer(1, ResponseBuilder(404, "Not Found"));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
  EXPECT_EQ(up->registrar(), "");
  EXPECT_EQ(up->retry_delay(), 1000ms);
  loop.advance(999ms);
  EXPECT_EQ(client.sent().size(), 2u);
  loop.advance(1ms);
  ASSERT_EQ(client.sent().size(), 3u);
  EXPECT_EQ(sent(2).request.request_uri, kTop);  // from the top again
  EXPECT_EQ(sent(2).call_id, sent(0).call_id);
  EXPECT_GT(sent(2).cseq, sent(1).cseq);

  std::vector<std::chrono::milliseconds> waits;
  for (size_t i = 2; i < 9; ++i) {
    ASSERT_TRUE(client.time_out(i));  // the core's local 408: no answer
    waits.push_back(up->retry_delay());
    loop.advance(up->retry_delay());
    ASSERT_EQ(client.sent().size(), i + 2);
  }
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{2s, 4s, 8s, 16s, 30s, 30s, 30s}));
  // Eight failures in a row: one warning, the retries at debug.
  const auto warnings = [&](std::string_view text) {
    return std::count_if(log.lines().begin(), log.lines().end(), [&](const std::string& l) {
      return l.rfind("warn: ", 0) == 0 && l.find(text) != l.npos;
    });
  };
  EXPECT_EQ(warnings("registering H1@C1.D1 failed (404 Not Found from sip:D1@127.0.0.1:5120)"), 1)
      << ::testing::PrintToString(log.lines());
  EXPECT_EQ(warnings("registering H1@C1.D1 failed"), 1) << ::testing::PrintToString(log.lines());

  answer(9, ResponseBuilder(200));
  EXPECT_EQ(warnings("registering H1@C1.D1 works again after 8 failed attempts"), 1)
      << ::testing::PrintToString(log.lines());
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
  EXPECT_EQ(up->registrar(), kTop);
  EXPECT_EQ(up->retry_delay(), 0ms);
  // Refreshed after 2/3 of the 60 s asked (no expiry in the answer).
  loop.advance(40s);
  ASSERT_EQ(client.sent().size(), 11u);
  ASSERT_TRUE(client.time_out(10));  // a refresh that fails starts over with the first backoff
  EXPECT_EQ(up->retry_delay(), 1s);
  EXPECT_EQ(warnings("registering H1@C1.D1 failed"), 2);  // a new outage, a new warning
}

TEST_F(UpwardRegistrationTest, EveryWaitIsJitteredByTwentyPercent) {
  auto up = make();
  up->start();
  random = 0.0;
  answer(0, ResponseBuilder(503));
  EXPECT_EQ(up->retry_delay(), 800ms);
  loop.advance(800ms);
  random = 0.999;
  ASSERT_TRUE(client.time_out(1));
  EXPECT_GE(up->retry_delay(), 2390ms);  // 2 s + 20 %
  EXPECT_LE(up->retry_delay(), 2400ms);
}

// A 503 with Retry-After from the parent: the same REGISTER (same Call-ID, next
// CSeq) goes to the same parent after the Retry-After plus 0..20 %, not to the
// top after the backoff, whether the Retry-After is longer or shorter than it.
TEST_F(UpwardRegistrationTest, RetryAfterOfA503SendsTheSameRegisterThereAfterIt) {
  auto up = make();
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  random = 0.0;  // no jitter: exactly the Retry-After
  answer(1, ResponseBuilder(503, "Service Unavailable").header("Retry-After", "20 (restarting)"));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
  EXPECT_EQ(up->retry_delay(), 20s);
  loop.advance(19999ms);
  EXPECT_EQ(client.sent().size(), 2u);
  loop.advance(1ms);
  ASSERT_EQ(client.sent().size(), 3u);
  EXPECT_EQ(sent(2).request.request_uri, kParent);  // the same server, not the top
  EXPECT_EQ(sent(2).call_id, sent(1).call_id);
  EXPECT_EQ(sent(2).cseq, sent(1).cseq + 1);
  EXPECT_EQ(header(2, "Expires"), "300");
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistering);

  // Shorter than the first backoff would be with this jitter (1.2 s), and never sooner than asked.
  random = 0.999;
  answer(2, ResponseBuilder(503).header("Retry-After", "1"));
  EXPECT_GE(up->retry_delay(), 1190ms);
  EXPECT_LE(up->retry_delay(), 1200ms);
  loop.advance(up->retry_delay());
  ASSERT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(sent(3).request.request_uri, kParent);
  answer(3, ResponseBuilder(200));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
  EXPECT_EQ(up->registrar(), kParent);
  EXPECT_EQ(retry_after_seconds("120;duration=60"), 120u);
  EXPECT_EQ(retry_after_seconds("soon"), std::nullopt);
}

// A refresh answered 503 with Retry-After is sent again to the parent after it.
TEST_F(UpwardRegistrationTest, ABusyRefreshIsSentAgainToTheParent) {
  auto up = make(60);
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  answer(1, ResponseBuilder(200));
  loop.advance(40s);  // 2/3 of 60 s
  ASSERT_EQ(client.sent().size(), 3u);
  random = 0.0;
  answer(2, ResponseBuilder(503).header("Retry-After", "3"));
  EXPECT_EQ(up->retry_delay(), 3s);
  loop.advance(3s);
  ASSERT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(sent(3).request.request_uri, kParent);
  EXPECT_EQ(header(3, "Expires"), "60");
}

// Five 503s in a row are waited for at the parent; the sixth is a failure: from
// the top, after the backoff or the Retry-After, whichever is longer.
TEST_F(UpwardRegistrationTest, AParentBusySixTimesInARowIsAFailureFromTheTop) {
  auto up = make();
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  random = 0.0;
  for (size_t i = 1; i <= 5; ++i) {
    answer(i, ResponseBuilder(503).header("Retry-After", "2"));
    EXPECT_EQ(up->retry_delay(), 2s) << i;
    loop.advance(2s);
    ASSERT_EQ(client.sent().size(), i + 2);
    EXPECT_EQ(sent(i + 1).request.request_uri, kParent) << i;
  }
  answer(6, ResponseBuilder(503).header("Retry-After", "2"));
  EXPECT_EQ(up->retry_delay(), 2s);  // the backoff, 1 s - 20 %, is shorter
  loop.advance(2s);
  ASSERT_EQ(client.sent().size(), 8u);
  EXPECT_EQ(sent(7).request.request_uri, kTop);
  // One warning for the whole outage.
  EXPECT_EQ(std::count_if(log.lines().begin(), log.lines().end(),
                          [](const std::string& l) { return l.rfind("warn: ", 0) == 0; }),
            1)
      << ::testing::PrintToString(log.lines());
}

TEST_F(UpwardRegistrationTest, ARedirectLoopIsAFailure) {
  auto up = make();
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kTop + ">"));  // back to where it came from
  EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
  EXPECT_EQ(client.sent().size(), 1u);
}

TEST_F(UpwardRegistrationTest, StoppedBeforeRegisteredSendsNoGoodbye) {
  auto up = make();
  up->start();
  up->stop();
  EXPECT_FALSE(up->unregistering());
  EXPECT_FALSE(client.answer(0, *ResponseBuilder(200).build()));  // the answer is not wanted any more
  EXPECT_EQ(client.sent().size(), 1u);
  EXPECT_EQ(loop.active_timers(), 0u);
}

TEST_F(UpwardRegistrationTest, DestroyedWhileWaitingForAnAnswerCallsNothing) {
  {
    auto up = make();
    up->start();
  }
  EXPECT_FALSE(client.answer(0, *ResponseBuilder(200).build()));
  EXPECT_EQ(loop.active_timers(), 0u);
}

// Digest at the parent (auth-digest): the REGISTER challenged with 401 (or
// 407) is answered with the password of the tree's password_file.
namespace {

namespace digest = homesip::digest;

const std::string kPassword = "h1 secret";

std::string challenge_value(std::string_view nonce, bool stale = false, std::string_view realm = "C1.D1",
                            digest::Algorithm algorithm = digest::Algorithm::kSha256) {
  return digest::challenge(algorithm, realm, nonce, stale);
}

struct DigestUpwardTest : UpwardRegistrationTest {
  std::unique_ptr<UpwardRegistration> make_with_password(std::string password = kPassword) {
    UpwardSettings up = settings(300);
    up.password = std::move(password);
    return std::make_unique<UpwardRegistration>(client, loop, up, log, [this] { return random; });
  }
  // The credentials request `i` carries in `name`, checked against the password.
  digest::DigestParams credentials(size_t i, std::string_view name = "Authorization") {
    const std::string value = header(i, name);
    auto params = digest::parse(value);
    EXPECT_TRUE(params.has_value()) << value;
    if (!params) return {};
    const auto algorithm = digest::parse_algorithm(params->algorithm.empty() ? "MD5" : params->algorithm);
    EXPECT_TRUE(algorithm.has_value()) << value;
    if (!algorithm) return *params;
    const std::string ha1 = digest::ha1(*algorithm, "H1", params->realm, kPassword);
    EXPECT_EQ(params->response, digest::response(*algorithm, ha1, "REGISTER", *params)) << value;
    EXPECT_EQ(params->uri, sent(i).request.request_uri) << value;
    return *params;
  }
};

}  // namespace

TEST_F(DigestUpwardTest, A401IsAnsweredOnceThenRefreshesCarryCredentials) {
  auto up = make_with_password();
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  ASSERT_EQ(client.sent().size(), 2u);
  EXPECT_EQ(header(1, "Authorization"), "<none>");  // nothing to answer yet
  answer(1, ResponseBuilder(401, "Unauthorized")
                .header("WWW-Authenticate", challenge_value("n1"))
                .header("WWW-Authenticate", challenge_value("n1", false, "C1.D1", digest::Algorithm::kMd5)));
  ASSERT_EQ(client.sent().size(), 3u);
  EXPECT_EQ(sent(2).request.request_uri, kParent);  // to the parent again, not the top
  EXPECT_EQ(sent(2).call_id, sent(0).call_id);
  EXPECT_GT(sent(2).cseq, sent(1).cseq);
  const auto first = credentials(2);
  EXPECT_EQ(first.username, "H1");
  EXPECT_EQ(first.realm, "C1.D1");
  EXPECT_EQ(first.nonce, "n1");
  EXPECT_EQ(first.algorithm, "SHA-256");  // the first challenge the parent listed
  EXPECT_EQ(first.qop, "auth");
  EXPECT_EQ(first.nc, "00000001");
  EXPECT_EQ(header(2, "Expires"), "300");
  answer(2, ResponseBuilder(200).contact("<sip:H1@127.0.0.1:5130>;expires=30"));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
  EXPECT_EQ(up->registrar(), kParent);

  // The refresh carries credentials for the same nonce at once, nc counting up.
  loop.advance(20s);
  ASSERT_EQ(client.sent().size(), 4u);
  const auto refresh = credentials(3);
  EXPECT_EQ(refresh.nonce, "n1");
  EXPECT_EQ(refresh.nc, "00000002");
  EXPECT_NE(refresh.cnonce, first.cnonce);  // a fresh cnonce each time
  answer(3, ResponseBuilder(200).contact("<sip:H1@127.0.0.1:5130>;expires=30"));

  // The goodbye carries them too.
  up->stop();
  ASSERT_EQ(client.sent().size(), 5u);
  EXPECT_EQ(header(4, "Expires"), "0");
  EXPECT_EQ(credentials(4).nc, "00000003");
}

TEST_F(DigestUpwardTest, AStaleNonceIsAnsweredWithTheNewOne) {
  auto up = make_with_password();
  up->start();
  answer(0, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n1")));
  ASSERT_EQ(client.sent().size(), 2u);
  EXPECT_EQ(credentials(1).nonce, "n1");
  // Expired in flight: stale=true right after an answer is a new challenge, not a refusal.
  answer(1, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n2", true)));
  ASSERT_EQ(client.sent().size(), 3u);
  const auto again = credentials(2);
  EXPECT_EQ(again.nonce, "n2");
  EXPECT_EQ(again.nc, "00000001");  // counted per nonce
  answer(2, ResponseBuilder(200).contact("<sip:H1@127.0.0.1:5130>;expires=30"));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
  EXPECT_EQ(up->registrar(), kTop);  // the top was the parent here

  // A refresh whose nonce expired meanwhile: answered with the new one.
  loop.advance(20s);
  ASSERT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(credentials(3).nonce, "n2");
  answer(3, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n3", true)));
  ASSERT_EQ(client.sent().size(), 5u);
  EXPECT_EQ(credentials(4).nonce, "n3");
  answer(4, ResponseBuilder(200).contact("<sip:H1@127.0.0.1:5130>;expires=30"));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
}

TEST_F(DigestUpwardTest, AWrongPasswordIsAFailureWithTheBackoff) {
  auto up = make_with_password();
  up->start();
  answer(0, ResponseBuilder(302).contact("<" + kParent + ">"));
  answer(1, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n1")));
  ASSERT_EQ(client.sent().size(), 3u);
  // Refused: a second challenge in a row without stale=true (same or new nonce).
  answer(2, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n2")));
  EXPECT_EQ(client.sent().size(), 3u);  // not answered again
  EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
  EXPECT_EQ(up->retry_delay(), 1000ms);
  EXPECT_TRUE(log.contains("credentials of H1 refused"));
  // Again from the top after the backoff, without credentials (the top is another realm).
  loop.advance(1000ms);
  ASSERT_EQ(client.sent().size(), 4u);
  EXPECT_EQ(sent(3).request.request_uri, kTop);
  EXPECT_EQ(header(3, "Authorization"), "<none>");
  answer(3, ResponseBuilder(302).contact("<" + kParent + ">"));
  answer(4, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n3")));
  answer(5, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n3")));
  EXPECT_EQ(up->retry_delay(), 2000ms);  // the backoff doubles as for any failure
}

TEST_F(DigestUpwardTest, A407IsAnsweredWithProxyAuthorization) {
  auto up = make_with_password();
  up->start();
  answer(0,
         ResponseBuilder(407, "Proxy Authentication Required")
             .header("Proxy-Authenticate", challenge_value("p1", false, "C1.D1", digest::Algorithm::kMd5)));
  ASSERT_EQ(client.sent().size(), 2u);
  EXPECT_EQ(header(1, "Authorization"), "<none>");
  const auto answered = credentials(1, "Proxy-Authorization");
  EXPECT_EQ(answered.algorithm, "MD5");
  EXPECT_EQ(answered.nonce, "p1");
  answer(1, ResponseBuilder(200));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
}

TEST_F(DigestUpwardTest, WithoutAPasswordOrForAnotherRealmAChallengeIsAFailure) {
  {
    auto up = make();  // no password_file
    up->start();
    answer(0, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n1")));
    EXPECT_EQ(client.sent().size(), 1u);
    EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
    EXPECT_TRUE(log.contains("password_file"));
  }
  auto up = make_with_password();
  up->start();
  // A realm other than this server's domain: the password is not given away for it.
  answer(1, ResponseBuilder(401).header("WWW-Authenticate", challenge_value("n1", false, "C1.D2")));
  EXPECT_EQ(client.sent().size(), 2u);
  EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
  EXPECT_TRUE(log.contains("not this server's domain"));
  // Neither is an unparsable one or another scheme.
  loop.advance(up->retry_delay());
  ASSERT_EQ(client.sent().size(), 3u);
  answer(2, ResponseBuilder(401).header("WWW-Authenticate", "Basic realm=\"C1.D1\""));
  EXPECT_EQ(client.sent().size(), 3u);
  EXPECT_EQ(up->state(), UpwardRegistration::State::kWaitingToRetry);
}
