// The request chain on the SDK's test kit: requests built with RequestBuilder,
// a ManualLoop, and handlers written here; every test checks what was answered.
#include "request_chain.hpp"

#include <gtest/gtest.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_protos.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/request_builder.hpp"
#include "response_encoder.hpp"
#include "sip_message.hpp"
#include "sofia_request.hpp"

namespace homesip::core {
namespace {

using testkit::ManualLoop;
using testkit::RequestBuilder;

std::shared_ptr<spdlog::logger> quiet_log() {
  return std::make_shared<spdlog::logger>("chain-test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

// Where a test request's answers go: every reply and every forward, in order.
struct Answers {
  std::vector<Reply> replies;
  std::vector<std::string> forwards;
  std::vector<std::string> flows;  // the flow of each forward
};

// A test kit request as the chain takes it; answers are recorded in `answers`.
class FakeChainRequest final : public ChainRequest {
 public:
  FakeChainRequest(std::unique_ptr<SipRequest> request, std::shared_ptr<Answers> answers)
      : request_(std::move(request)), answers_(std::move(answers)) {}
  const SipRequest& request() const override { return *request_; }
  std::string_view reply_to_tag() const override { return "core-tag"; }
  void answer(const Reply& reply) override { answers_->replies.push_back(reply); }
  void forward(std::string_view request_uri, std::string_view flow) override {
    if (request_->max_forwards() == 0) throw std::logic_error("Max-Forwards 0");
    answers_->forwards.emplace_back(request_uri);
    answers_->flows.emplace_back(flow);
  }
  std::unique_ptr<ChainRequest> detach() override {
    return std::make_unique<FakeChainRequest>(std::move(request_), answers_);
  }

 private:
  std::unique_ptr<SipRequest> request_;
  std::shared_ptr<Answers> answers_;
};

// A handler whose behaviour is a function of the test; counts its calls.
class Handler final : public RequestHandler {
 public:
  explicit Handler(std::function<Disposition(IncomingRequest&)> body) : body_(std::move(body)) {}
  Disposition on_request(IncomingRequest& request) override {
    ++calls;
    return body_(request);
  }
  int calls = 0;

 private:
  std::function<Disposition(IncomingRequest&)> body_;
};

Disposition answer_200(IncomingRequest& request) {
  request.reply(Reply(200, "Handled"));
  return Disposition::kHandled;
}

class ChainTest : public ::testing::Test {
 protected:
  // Runs `builder`'s request through the chain; the answers land in answers_.
  void run(const RequestBuilder& builder) {
    FakeChainRequest request(builder.build(), answers_);
    chain_.run(request, loop_);
  }
  void add(Handler& handler, Phase phase, int32_t order = 0, size_t plugin = 0, std::string name = "p") {
    chain_.add(handler, HandlerPlacement{phase, order, {}}, plugin, std::move(name));
  }
  std::vector<int> statuses() const {
    std::vector<int> out;
    for (const Reply& r : answers_->replies) out.push_back(r.status);
    return out;
  }
  static std::optional<std::string> header_of(const Reply& reply, const std::string& name) {
    for (const auto& [n, v] : reply.headers)
      if (n == name) return v;
    return std::nullopt;
  }

  ManualLoop loop_;
  std::shared_ptr<Answers> answers_ = std::make_shared<Answers>();
  RequestChain chain_{quiet_log()};
  std::unique_ptr<SuspendedRequest> held_;
};

RequestBuilder message() { return RequestBuilder().method(Method::kMessage).uri("sip:lamp@example.test"); }

TEST_F(ChainTest, SuspendThenResumeRunsTheNextHandlerWhichAnswers) {
  Handler waits([this](IncomingRequest& r) {
    held_ = r.suspend();
    return Disposition::kSuspended;
  });
  Handler answers(answer_200);
  add(waits, Phase::kAuthenticate);
  add(answers, Phase::kRouting);
  run(message());
  EXPECT_TRUE(answers_->replies.empty());
  EXPECT_EQ(answers.calls, 0);
  EXPECT_EQ(chain_.suspended(), 1u);
  EXPECT_EQ(held_->request().method(), Method::kMessage);  // the request outlives the chain's walk
  held_->resume();
  EXPECT_EQ(waits.calls, 1);  // not run again: the chain goes on at the next handler
  EXPECT_EQ(answers.calls, 1);
  EXPECT_EQ(statuses(), std::vector<int>{200});
  EXPECT_TRUE(held_->finished());
  EXPECT_EQ(chain_.suspended(), 0u);
  held_.reset();
  EXPECT_EQ(statuses(), std::vector<int>{200});  // nothing more when it goes
}

TEST_F(ChainTest, SuspendThenAnswerStopsTheChain) {
  Handler waits([this](IncomingRequest& r) {
    held_ = r.suspend();
    return Disposition::kSuspended;
  });
  Handler later(answer_200);
  add(waits, Phase::kRegistrar);
  add(later, Phase::kFallback);
  run(message());
  loop_.post([this] { held_->reply(Reply(202, "Later")); });
  loop_.run_pending();
  EXPECT_EQ(statuses(), std::vector<int>{202});
  EXPECT_EQ(later.calls, 0);
  held_->resume();  // after an answer: nothing happens
  EXPECT_EQ(later.calls, 0);
  EXPECT_EQ(statuses(), std::vector<int>{202});
}

TEST_F(ChainTest, TwoSuspensionsInOneChainThenTheDefaultAnswers) {
  std::unique_ptr<SuspendedRequest> second;
  Handler first_wait([this](IncomingRequest& r) {
    held_ = r.suspend();
    return Disposition::kSuspended;
  });
  Handler second_wait([&second](IncomingRequest& r) {
    second = r.suspend();
    return Disposition::kSuspended;
  });
  add(first_wait, Phase::kAuthenticate);
  add(second_wait, Phase::kAuthorize);
  run(RequestBuilder().method(Method::kOptions));
  ASSERT_TRUE(held_);
  held_->resume();
  EXPECT_EQ(second_wait.calls, 1);
  ASSERT_TRUE(second);
  EXPECT_TRUE(answers_->replies.empty());
  EXPECT_EQ(chain_.suspended(), 1u);
  second->resume();
  // No handler answered: the core's default for OPTIONS, 200 with Allow.
  ASSERT_EQ(statuses(), std::vector<int>{200});
  EXPECT_TRUE(header_of(answers_->replies[0], "Allow").has_value());
}

TEST_F(ChainTest, ResumedWithinTheHandlerBeforeItReturns) {
  // A store that answers from memory calls back before update() returns.
  Handler waits([](IncomingRequest& r) {
    auto suspended = r.suspend();
    suspended->resume();
    return Disposition::kSuspended;
  });
  Handler answers(answer_200);
  add(waits, Phase::kAuthenticate);
  add(answers, Phase::kRegistrar);
  run(message());
  EXPECT_EQ(statuses(), std::vector<int>{200});
  EXPECT_EQ(chain_.suspended(), 0u);
}

TEST_F(ChainTest, ExceptionAnswers500AndLaterHandlersDoNotRun) {
  Handler throws([](IncomingRequest&) -> Disposition { throw std::runtime_error("widget bus down"); });
  Handler later(answer_200);
  add(throws, Phase::kSanity);
  add(later, Phase::kFallback);
  run(message());
  EXPECT_EQ(statuses(), std::vector<int>{500});
  EXPECT_EQ(later.calls, 0);
}

TEST_F(ChainTest, SuspendedRequestDestroyedUnansweredGets500) {
  Handler waits([this](IncomingRequest& r) {
    held_ = r.suspend();
    return Disposition::kSuspended;
  });
  add(waits, Phase::kRouting);
  run(message());
  EXPECT_TRUE(answers_->replies.empty());
  held_.reset();
  EXPECT_EQ(statuses(), std::vector<int>{500});
  EXPECT_EQ(chain_.suspended(), 0u);
}

TEST_F(ChainTest, ShutdownAnswersWhatIsStillSuspended503WithRetryAfter) {
  std::vector<std::unique_ptr<SuspendedRequest>> held;
  Handler waits([&held](IncomingRequest& r) {
    held.push_back(r.suspend());
    return Disposition::kSuspended;
  });
  add(waits, Phase::kRegistrar);
  run(message());
  run(message().call_id("second@example.test"));
  EXPECT_EQ(chain_.suspended(), 2u);
  chain_.answer_suspended(7, nullptr);
  ASSERT_EQ(statuses(), (std::vector<int>{503, 503}));
  for (const Reply& r : answers_->replies) EXPECT_EQ(header_of(r, "Retry-After"), "7");
  EXPECT_EQ(chain_.suspended(), 0u);
  EXPECT_TRUE(held[0]->finished());
  held.clear();  // finished: destroying them answers nothing more
  EXPECT_EQ(answers_->replies.size(), 2u);
}

TEST_F(ChainTest, SuspendedWithoutSuspendIsAPluginBugAnswered500) {
  Handler lies([](IncomingRequest&) { return Disposition::kSuspended; });
  add(lies, Phase::kRouting);
  run(message());
  EXPECT_EQ(statuses(), std::vector<int>{500});
}

TEST_F(ChainTest, HandledWithoutAnswerIsAPluginBugAnswered500) {
  Handler lies([](IncomingRequest&) { return Disposition::kHandled; });
  add(lies, Phase::kRouting);
  run(message());
  EXPECT_EQ(statuses(), std::vector<int>{500});
}

TEST_F(ChainTest, PhasesOrderHandlersRegardlessOfRegistrationOrder) {
  std::vector<std::string> ran;
  auto note = [&ran](std::string name) {
    return [&ran, name](IncomingRequest&) {
      ran.push_back(name);
      return Disposition::kContinue;
    };
  };
  Handler fallback(note("fallback")), registrar(note("registrar")), sanity(note("sanity")),
      routing_late(note("routing+5")), routing_early(note("routing-5")),
      routing_second_plugin(note("routing-5/p2"));
  // Registered backwards, as a config listing plugins in another order would.
  add(fallback, Phase::kFallback, 0, 0);
  add(registrar, Phase::kRegistrar, 0, 1);
  add(routing_second_plugin, Phase::kRouting, -5, 2);
  add(routing_late, Phase::kRouting, 5, 0);
  add(routing_early, Phase::kRouting, -5, 1);
  add(sanity, Phase::kSanity, 0, 3);
  run(message());
  EXPECT_EQ(ran, (std::vector<std::string>{"sanity", "routing-5", "routing-5/p2", "routing+5", "registrar",
                                           "fallback"}));
  EXPECT_EQ(statuses(), std::vector<int>{501});  // MESSAGE nobody answered
}

TEST_F(ChainTest, AttributesSetByOneHandlerAreReadByTheNextAcrossASuspension) {
  Handler authenticates([this](IncomingRequest& r) {
    r.attributes().set(kAuthenticatedIdentity,
                       AuthenticatedIdentity{"U1@C1.D1.H1", "C1.D1.H1", "owner", "digest"});
    held_ = r.suspend();
    return Disposition::kSuspended;
  });
  std::string seen_aor, seen_role;
  bool other_type_invisible = false;
  Handler reads([&](IncomingRequest& r) {
    const AuthenticatedIdentity* identity = r.attributes().get(kAuthenticatedIdentity);
    if (identity) {
      seen_aor = identity->aor;
      seen_role = identity->role;
    }
    other_type_invisible = r.attributes().get(AttributeKey<std::string>{"homesip.identity"}) == nullptr;
    return answer_200(r);
  });
  add(authenticates, Phase::kAuthenticate);
  add(reads, Phase::kAuthorize);
  run(message());
  held_->resume();
  EXPECT_EQ(seen_aor, "U1@C1.D1.H1");
  EXPECT_EQ(seen_role, "owner");
  EXPECT_TRUE(other_type_invisible);
  EXPECT_EQ(statuses(), std::vector<int>{200});
}

TEST_F(ChainTest, DefaultsAnswerByMethod) {
  run(RequestBuilder().method(Method::kBye));
  run(RequestBuilder().method(Method::kCancel));
  run(RequestBuilder().method("FOO"));
  EXPECT_EQ(statuses(), (std::vector<int>{481, 481, 501}));
}

// ACK walks the chain (a handler that forwards INVITEs forwards their ACKs),
// but nothing ever answers one: not a handler's reply(), not the defaults.
TEST_F(ChainTest, AckWalksTheChainAndIsNeverAnswered) {
  Handler answers(answer_200);
  Handler forwards([](IncomingRequest& r) {
    if (r.request().method() != Method::kAck || r.request().cseq() != 2) return Disposition::kContinue;
    r.forward("sip:u1@192.0.2.9:5062");
    return Disposition::kHandled;
  });
  Handler passes([](IncomingRequest&) { return Disposition::kContinue; });
  add(forwards, Phase::kRouting);
  add(passes, Phase::kFallback);
  run(RequestBuilder().method(Method::kAck).cseq(1));  // nobody forwards it: dropped
  EXPECT_EQ(passes.calls, 1);
  run(RequestBuilder().method(Method::kAck).cseq(2));
  EXPECT_EQ(answers_->forwards, (std::vector<std::string>{"sip:u1@192.0.2.9:5062"}));
  add(answers, Phase::kFallback, 1);
  run(RequestBuilder().method(Method::kAck).cseq(3));
  EXPECT_EQ(answers.calls, 1);
  EXPECT_TRUE(answers_->replies.empty());
}

// forward_on_flow (3.3) reaches the transport with its flow, from the
// handler in hand and from a suspension alike; forward() has none.
TEST_F(ChainTest, ForwardOnFlowHandsTheFlowToTheTransport) {
  std::shared_ptr<SuspendedRequest> kept;
  Handler forwards([&kept](IncomingRequest& r) {
    if (r.request().method() == Method::kInvite) {
      r.forward_on_flow("sip:u1@192.0.2.9:5062;transport=tls", "tls:192.0.2.9:40112");
      return Disposition::kHandled;
    }
    kept = r.suspend();
    return Disposition::kSuspended;
  });
  add(forwards, Phase::kRouting);
  run(RequestBuilder().method(Method::kInvite).cseq(1));
  run(message());
  ASSERT_TRUE(kept);
  kept->forward_on_flow("sip:u1@192.0.2.9:5063;transport=tcp", "tcp:192.0.2.9:40113");
  EXPECT_TRUE(answers_->replies.empty());
  EXPECT_EQ(answers_->forwards, (std::vector<std::string>{"sip:u1@192.0.2.9:5062;transport=tls",
                                                          "sip:u1@192.0.2.9:5063;transport=tcp"}));
  EXPECT_EQ(answers_->flows, (std::vector<std::string>{"tls:192.0.2.9:40112", "tcp:192.0.2.9:40113"}));
}

TEST_F(ChainTest, ForwardStopsTheChainAndRefusesWhatIsNoSipUri) {
  Handler forwards([](IncomingRequest& r) {
    r.forward("sip:u1@192.0.2.9:5062");
    return Disposition::kHandled;
  });
  Handler after(answer_200);
  add(forwards, Phase::kRouting);
  add(after, Phase::kFallback);
  run(message());
  EXPECT_EQ(after.calls, 0);
  EXPECT_TRUE(answers_->replies.empty());
  EXPECT_EQ(answers_->forwards, (std::vector<std::string>{"sip:u1@192.0.2.9:5062"}));

  RequestChain other{quiet_log()};
  Handler bad([](IncomingRequest& r) {
    r.forward("tel:+15551234");
    return Disposition::kHandled;
  });
  other.add(bad, HandlerPlacement{Phase::kRouting, 0, {}}, 0, "p");
  FakeChainRequest request(message().build(), answers_);
  other.run(request, loop_);
  EXPECT_EQ(statuses(), (std::vector<int>{500}));  // the handler's exception: answered 500
}

// At Max-Forwards 0 the core refuses to forward: the handler answers 483.
TEST_F(ChainTest, ForwardAtMaxForwardsZeroThrowsSoTheHandlerAnswers483) {
  Handler forwards([](IncomingRequest& r) {
    try {
      r.forward("sip:u1@192.0.2.9:5062");
    } catch (const std::logic_error&) {
      r.reply(Reply(483, "Too Many Hops"));
    }
    return Disposition::kHandled;
  });
  add(forwards, Phase::kRouting);
  run(message().max_forwards(0));
  EXPECT_EQ(statuses(), (std::vector<int>{483}));
  EXPECT_TRUE(answers_->forwards.empty());
}

TEST_F(ChainTest, SuspendedRequestForwardsLater) {
  Handler waits([this](IncomingRequest& r) {
    held_ = r.suspend();
    return Disposition::kSuspended;
  });
  add(waits, Phase::kRouting);
  run(message());
  ASSERT_TRUE(held_);
  held_->forward("sip:u1@192.0.2.9:5062");
  EXPECT_TRUE(held_->finished());
  EXPECT_EQ(chain_.suspended(), 0u);
  held_.reset();  // finished: no 500
  EXPECT_TRUE(answers_->replies.empty());
  EXPECT_EQ(answers_->forwards, (std::vector<std::string>{"sip:u1@192.0.2.9:5062"}));
}

// A request parsed by sofia and answered by the one reply writer, as the
// server does: what reply_to_tag() promises is what goes on the wire.
class WireChainRequest final : public ChainRequest {
 public:
  explicit WireChainRequest(msg_t* msg)
      : msg_(msg), sip_(sip_object(msg)), view_(msg, sip_, "udp"), to_tag_(response_to_tag(*sip_, buffer_)) {}
  ~WireChainRequest() override { msg_destroy(msg_); }
  const SipRequest& request() const override { return view_; }
  std::string_view reply_to_tag() const override { return to_tag_; }
  void answer(const Reply& reply) override {
    su_sockaddr_t source{};
    source.su_family = AF_INET;
    encode_response(*sip_, source, reply, wire);
  }
  void forward(std::string_view, std::string_view) override { throw std::logic_error("not in this test"); }
  std::unique_ptr<ChainRequest> detach() override { throw std::logic_error("not in this test"); }
  std::string wire;

 private:
  msg_t* msg_;
  sip_t* sip_;
  SofiaRequest view_;
  char buffer_[kToTagBufferSize];
  std::string_view to_tag_;
};

msg_t* parse(const std::string& bytes) {
  su_sockaddr_t from{};
  from.su_family = AF_INET;
  return parse_sip_message(bytes, from, sizeof from.su_sin);
}

const std::string kSubscribe =
    "SUBSCRIBE sip:lamp@C1.D1.H1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-1;rport\r\n"
    "From: <sip:U1@C1.D1.H1>;tag=abc\r\n"
    "To: <sip:lamp@C1.D1.H1>\r\n"
    "Call-ID: sub-1@192.0.2.7\r\n"
    "CSeq: 1 SUBSCRIBE\r\n"
    "Event: presence;id=1\r\n"
    "Content-Length: 0\r\n\r\n";

std::string to_line(const std::string& wire) {
  const size_t start = wire.find("\r\nTo: ");
  return start == std::string::npos ? "" : wire.substr(start + 2, wire.find("\r\n", start + 2) - start - 2);
}

TEST_F(ChainTest, ToTagSetByAPluginIsOnTheWire) {
  Handler dialog([](IncomingRequest& r) {
    Reply ok(200);
    ok.to_tag = "sub-dialog-7";
    r.reply(ok);
    return Disposition::kHandled;
  });
  add(dialog, Phase::kLocalServices);
  WireChainRequest request(parse(kSubscribe));
  EXPECT_EQ(request.request().event(), "presence");
  chain_.run(request, loop_);
  EXPECT_EQ(to_line(request.wire), "To: <sip:lamp@C1.D1.H1>;tag=sub-dialog-7");
}

TEST_F(ChainTest, ReplyToTagIsWhatTheWriterSends) {
  std::string promised;
  Handler answers([&promised](IncomingRequest& r) {
    promised = std::string(r.reply_to_tag());
    r.reply(Reply(202));
    return Disposition::kHandled;
  });
  add(answers, Phase::kLocalServices);
  WireChainRequest request(parse(kSubscribe));
  chain_.run(request, loop_);
  ASSERT_EQ(promised.size(), 16u);
  EXPECT_EQ(to_line(request.wire), "To: <sip:lamp@C1.D1.H1>;tag=" + promised);
  // A retransmission (same Call-ID and From tag) is promised the same tag.
  WireChainRequest again(parse(kSubscribe));
  EXPECT_EQ(again.reply_to_tag(), promised);
}

TEST_F(ChainTest, PluginToTagIsSanitised) {
  Handler forges([](IncomingRequest& r) {
    Reply ok(200);
    ok.to_tag = "x\r\nX-Forged: 1";
    r.reply(ok);
    return Disposition::kHandled;
  });
  add(forges, Phase::kLocalServices);
  WireChainRequest request(parse(kSubscribe));
  chain_.run(request, loop_);
  EXPECT_EQ(request.wire.find("\r\nX-Forged"), std::string::npos);
  EXPECT_EQ(to_line(request.wire), "To: <sip:lamp@C1.D1.H1>;tag=xX-Forged1");
}

}  // namespace
}  // namespace homesip::core
