// UpwardRegistration on the SDK test kit: a FakeClient the test answers and a
// ManualLoop whose clock moves by hand (ported from the core's
// UpstreamRegistrationTest, plus jitter and Retry-After).
#include "upward_registration.hpp"

#include <gtest/gtest.h>

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

  answer(9, ResponseBuilder(200));
  EXPECT_EQ(up->state(), UpwardRegistration::State::kRegistered);
  EXPECT_EQ(up->registrar(), kTop);
  EXPECT_EQ(up->retry_delay(), 0ms);
  // Refreshed after 2/3 of the 60 s asked (no expiry in the answer).
  loop.advance(40s);
  ASSERT_EQ(client.sent().size(), 11u);
  ASSERT_TRUE(client.time_out(10));  // a refresh that fails starts over with the first backoff
  EXPECT_EQ(up->retry_delay(), 1s);
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

TEST_F(UpwardRegistrationTest, RetryAfterOfA503IsHonoured) {
  auto up = make();
  up->start();
  answer(0, ResponseBuilder(503, "Service Unavailable").header("Retry-After", "20 (restarting)"));
  EXPECT_EQ(up->retry_delay(), 20s);
  loop.advance(19999ms);
  EXPECT_EQ(client.sent().size(), 1u);
  loop.advance(1ms);
  ASSERT_EQ(client.sent().size(), 2u);
  // A Retry-After shorter than the backoff does not shorten it.
  answer(1, ResponseBuilder(503).header("Retry-After", "1"));
  EXPECT_EQ(up->retry_delay(), 2s);
  EXPECT_EQ(retry_after_seconds("120;duration=60"), 120u);
  EXPECT_EQ(retry_after_seconds("soon"), std::nullopt);
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
