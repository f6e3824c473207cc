// The tree's handler from several loops at once, as `server.loops: N` calls
// it: each thread owns a ManualLoop and hands its requests to the one
// RedirectHandler, while the test's thread turns the main loop, where the
// ChildMonitor's rounds run and its probes are answered. The store and the
// resolver's client answer on the caller's loop, as the SDK's services do.
// Exact outcomes at the end: every request answered (or forwarded) once with
// what its target's state says, and the monitor's view of every child.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_monitor.hpp"
#include "homesip/testkit/testkit.hpp"
#include "phone_proxy.hpp"
#include "redirect_handler.hpp"
#include "tree_resolver.hpp"

namespace homesip::tree {
namespace {

using testkit::FakeIncomingRequest;
using testkit::FakeLogger;
using testkit::ManualLoop;
using testkit::RequestBuilder;
using testkit::ResponseBuilder;
using namespace std::chrono_literals;

constexpr int kThreads = 4;
const std::string kTop = "sip:127.0.0.1:5110";
constexpr const char* kServerAgent = "homesipd/0.1.0";

// The loop of the thread running now: what the core's current_loop() gives a service.
thread_local EventLoop* current_loop = nullptr;

// Bindings by AOR, read and written from any thread; answers are posted to
// the caller's loop.
class LockedStore final : public LocationStore {
 public:
  void bind(const std::string& aor, const std::string& contact, const std::string& user_agent) {
    Binding b;
    b.contact = contact;
    b.expires_at = 4'000'000'000;
    b.user_agent = user_agent;
    std::lock_guard lock(mutex_);
    bindings_[aor] = {b};
  }
  void update(std::string_view, BindingEditor, UpdateDone done) override { done(StoreStatus::kError, {}); }
  void lookup(std::string_view aor, LookupDone done) override {
    BindingList found;
    {
      std::lock_guard lock(mutex_);
      if (const auto it = bindings_.find(std::string(aor)); it != bindings_.end()) found = it->second;
    }
    current_loop->post([found = std::move(found), done = std::move(done)] { done(StoreStatus::kOk, found); });
  }
  void list_aors(std::string_view domain, ListDone done) override {
    std::vector<std::string> aors;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [aor, list] : bindings_)
        if (aor.substr(aor.find('@') + 1) == domain) aors.push_back(aor);
    }
    current_loop->post([aors = std::move(aors), done = std::move(done)] { done(StoreStatus::kOk, aors); });
  }

 private:
  std::mutex mutex_;
  std::map<std::string, BindingList> bindings_;
};

// What became of one request handed to the handler on this thread's loop.
struct Result {
  Disposition disposition = Disposition::kContinue;
  size_t replies = 0;
  int status = 0;
  std::string reason;
  std::string contact;  // the first Contact of the reply
  std::vector<std::string> forwards;
  bool dropped = false;

  std::string text() const {
    return std::to_string(replies) + " replies, " + std::to_string(status) + " " + reason + " <" + contact +
           ">, " + std::to_string(forwards.size()) + " forwards" +
           (forwards.empty() ? "" : " to " + forwards[0]);
  }
};

// Hands `builder`'s request to `handler` and turns `loop` until it is
// answered or forwarded (bounded: 10 s; a request passed on needs no turn).
Result handle(RequestHandler& handler, ManualLoop& loop, const RequestBuilder& builder) {
  FakeIncomingRequest incoming(builder.build(), loop);
  Result r;
  r.disposition = handler.on_request(incoming);
  if (r.disposition == Disposition::kSuspended)
    loop.run_until([&] { return !incoming.replies().empty() || !incoming.forwards().empty(); }, 10s);
  r.replies = incoming.replies().size();
  if (const Reply* reply = incoming.last_reply()) {
    r.status = reply->status;
    r.reason = reply->reason;
    if (!reply->contacts.empty()) r.contact = reply->contacts.front().uri;
  }
  r.forwards = incoming.forwards();
  r.dropped = incoming.dropped();
  return r;
}

RequestBuilder invite(const std::string& aor, const std::string& call_id) {
  RequestBuilder builder;
  builder.method(Method::kInvite).uri("sip:" + aor).to("sip:" + aor).call_id(call_id);
  return builder;
}

// A child server's REGISTER with its parent, as UpwardRegistration sends it.
RequestBuilder server_register(const std::string& aor, const std::string& contact, uint32_t expires) {
  return RequestBuilder::registration(aor)
      .contact("<" + contact + ">")
      .user_agent(kServerAgent)
      .expires(expires);
}

// Runs `work(thread index, its loop)` on kThreads threads that start
// together; the calling thread turns `main` with `meanwhile` until they end.
// Problems the work reports are collected in `problems`.
class Loops {
 public:
  using Work = std::function<void(int, ManualLoop&, const std::function<void(std::string)>&)>;

  void run(const Work& work, const std::function<void()>& meanwhile) {
    std::latch ready(kThreads + 1);
    std::atomic<int> running{kThreads};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ManualLoop loop;  // owned by this thread
        current_loop = &loop;
        ready.arrive_and_wait();
        try {
          work(t, loop, [&](std::string what) { problem("loop " + std::to_string(t) + ": " + what); });
        } catch (const std::exception& e) {
          problem("loop " + std::to_string(t) + " threw: " + e.what());
        }
        current_loop = nullptr;
        --running;
      });
    ready.arrive_and_wait();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (running.load() > 0 && std::chrono::steady_clock::now() < deadline) meanwhile();
    for (std::thread& thread : threads) thread.join();
  }
  void problem(std::string what) {
    std::lock_guard lock(mutex_);
    problems_.push_back(std::move(what));
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(mutex_);
    return problems_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> problems_;
};

// The community server D1@C1: its families H1, H2, ... register with it,
// are probed by the ChildMonitor, and calls for their users get 302 to them
// (404 Next Server Offline for one found dead).
class CommunityThreadsTest : public ::testing::Test {
 protected:
  CommunityThreadsTest() { current_loop = &main_; }
  ~CommunityThreadsTest() override {
    handler_.reset();
    monitor_.reset();
    main_.run_pending();  // probes an unregister dropped are destroyed here
    current_loop = nullptr;
  }

  void SetUp() override {
    store_.bind("H1@C1.D1", family_contact(1), kServerAgent);
    store_.bind("H2@C1.D1", family_contact(2), kServerAgent);
    monitor_ =
        std::make_unique<ChildMonitor>(client_, main_, store_, MonitorSettings{"C1.D1", "sip:D1@C1", 5s, 3},
                                       log_, MonitorMetrics{Gauge(&online_), Counter(&failures_)});
    handler_.emplace(me_, redirect::RedirectPolicy{kTop, {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS"}},
                     store_, log_,
                     redirect::HandlerParts{[](const UriView&) { return false; }, monitor_.get(), nullptr,
                                            Counter(&redirects_), Counter(), ""});
    monitor_->start();
  }

  static std::string family_contact(int n) {
    return "sip:H" + std::to_string(n) + "@127.0.0.1:" + std::to_string(7000 + n);
  }

  // One round on the main loop: every probe sent so far answered 200 but those to `dead`.
  void round_answering_all_but(const std::string& dead) {
    main_.advance(5s);
    for (; answered_ < client_.sent().size(); ++answered_)
      if (client_.sent()[answered_].request.request_uri != dead)
        client_.answer(answered_, *ResponseBuilder(200).build());
  }

  const ChildStatus* child(const std::string& aor) {
    children_ = monitor_->children();
    for (const ChildStatus& c : children_)
      if (c.aor == aor) return &c;
    return nullptr;
  }

  ServerIdentity me_{"D1", "C1"};
  ManualLoop main_;
  testkit::FakeClient client_;  // the monitor's probes: main loop only
  FakeLogger log_;
  LockedStore store_;
  std::atomic<int64_t> online_{0};
  std::atomic<uint64_t> failures_{0}, redirects_{0};
  std::unique_ptr<ChildMonitor> monitor_;
  std::optional<redirect::RedirectHandler> handler_;
  size_t answered_ = 0;
  std::vector<ChildStatus> children_;
};

TEST_F(CommunityThreadsTest, FamiliesRegisterAndAreCalledOnEveryLoopWhileTheMainLoopProbes) {
  // Probed from the second round on; a probe unanswered at the next round is a miss.
  for (int round = 0; round < 4; ++round) round_answering_all_but(family_contact(2));
  ASSERT_TRUE(monitor_->offline("H2@C1.D1"));
  ASSERT_FALSE(monitor_->offline("H1@C1.D1"));

  constexpr int kFamiliesPerLoop = 25;
  Loops loops;
  loops.run(
      [&](int t, ManualLoop& loop, const std::function<void(std::string)>& problem) {
        for (int i = 0; i < kFamiliesPerLoop; ++i) {
          const int n = 100 + t * kFamiliesPerLoop + i;
          const std::string family = "H" + std::to_string(n);
          const std::string call = family + "-" + std::to_string(t);
          // The registrar after the tree binds it; here the store has it first.
          store_.bind(family + "@C1.D1", family_contact(n), kServerAgent);
          const Result registered =
              handle(*handler_, loop, server_register(family + "@C1.D1", family_contact(n), 600));
          if (registered.disposition != Disposition::kContinue || registered.replies != 0)
            problem(family + " REGISTER: " + registered.text());
          const Result to_new = handle(*handler_, loop, invite("U1@C1.D1." + family, call + "-new"));
          if (to_new.status != 302 || to_new.replies != 1 || to_new.contact != family_contact(n))
            problem("INVITE U1@C1.D1." + family + ": " + to_new.text());
          const Result to_h1 =
              handle(*handler_, loop, invite("U" + std::to_string(n) + "@C1.D1.H1", call + "-h1"));
          if (to_h1.status != 302 || to_h1.replies != 1 || to_h1.contact != family_contact(1))
            problem("INVITE to H1: " + to_h1.text());
          const Result to_h2 =
              handle(*handler_, loop, invite("U" + std::to_string(n) + "@C1.D1.H2", call + "-h2"));
          if (to_h2.status != 404 || to_h2.reason != "Next Server Offline" || to_h2.replies != 1)
            problem("INVITE to offline H2: " + to_h2.text());
        }
      },
      [&] {
        round_answering_all_but(family_contact(2));
        main_.run_until([] { return false; }, 1ms);
      });
  EXPECT_TRUE(loops.problems().empty()) << ::testing::PrintToString(loops.problems());

  round_answering_all_but(family_contact(2));
  constexpr int kNew = kThreads * kFamiliesPerLoop;
  EXPECT_EQ(monitor_->children().size(), static_cast<size_t>(2 + kNew));
  for (int n = 100; n < 100 + kNew; ++n) {
    const ChildStatus* c = child("H" + std::to_string(n) + "@C1.D1");
    ASSERT_NE(c, nullptr) << n;
    EXPECT_TRUE(c->online) << n;
    EXPECT_EQ(c->contact, family_contact(n));
  }
  EXPECT_TRUE(monitor_->offline("H2@C1.D1"));
  EXPECT_EQ(online_.load(), 1 + kNew);
  EXPECT_EQ(redirects_.load(), static_cast<uint64_t>(2 * kNew));
  EXPECT_EQ(log_.count("child server H2@C1.D1 is offline"), 1u);

  // H2 registers again on one loop while H1 says goodbye on another: H2's
  // users are found again, H1 is forgotten at once.
  loops.run(
      [&](int t, ManualLoop& loop, const std::function<void(std::string)>& problem) {
        if (t == 0) {
          const Result back = handle(*handler_, loop, server_register("H2@C1.D1", family_contact(2), 600));
          if (back.disposition != Disposition::kContinue) problem("H2 again: " + back.text());
        } else if (t == 1) {
          const Result bye = handle(*handler_, loop, server_register("H1@C1.D1", family_contact(1), 0));
          if (bye.disposition != Disposition::kContinue) problem("H1 goodbye: " + bye.text());
        }
      },
      [&] { main_.run_until([] { return false; }, 1ms); });
  EXPECT_TRUE(loops.problems().empty()) << ::testing::PrintToString(loops.problems());
  main_.run_pending();
  EXPECT_FALSE(monitor_->offline("H2@C1.D1"));
  EXPECT_EQ(child("H1@C1.D1"), nullptr);
  EXPECT_EQ(online_.load(), 1 + kNew);
  EXPECT_EQ(log_.count("child server H2@C1.D1 is online again (registered again)"), 1u);
  EXPECT_EQ(log_.count("child server H1@C1.D1 unregistered"), 1u);
}

// The tree as a client sees it: the top refers C1.D2 to D2, D2 refers
// C1.D2.Hm to Hm, and Hm answers with its user's contact. Each answer is
// posted to the loop that sent (as the core's client delivers); a request
// sent from no loop thread is counted as a problem.
class TreeOfServers final : public SipClient {
 public:
  static std::string user_contact(const std::string& user, int family) {
    return "sip:" + user + "@192.0.2." + std::to_string(family) + ":5060";
  }

  std::unique_ptr<ClientTransaction> send(const OutgoingRequest& request, ResponseDone done) override {
    ++sent;
    if (!current_loop || !current_loop->on_loop_thread()) ++off_loop;
    auto wanted = std::make_shared<std::atomic<bool>>(true);
    current_loop->post([this, request, done = std::move(done), wanted] {
      if (!wanted->load()) return;
      if (!current_loop || !current_loop->on_loop_thread()) ++off_loop;
      done(*ResponseBuilder(302, "Moved Temporarily").contact("<" + next(request) + ">").build());
    });
    return std::make_unique<Transaction>(std::move(wanted));
  }

  std::atomic<int> sent{0}, off_loop{0};

 private:
  class Transaction final : public ClientTransaction {
   public:
    explicit Transaction(std::shared_ptr<std::atomic<bool>> wanted) : wanted_(std::move(wanted)) {}
    ~Transaction() override { *wanted_ = false; }
    std::string_view call_id() const override { return "tree-of-servers"; }
    uint32_t cseq() const override { return 1; }

   private:
    std::shared_ptr<std::atomic<bool>> wanted_;
  };

  // Where the server asked (its next hop) sends the query (the Request-URI).
  static std::string next(const OutgoingRequest& request) {
    const std::string asked = request.next_hop;
    const std::string aor = request.request_uri.substr(4);  // "U1@C1.D2.H3"
    const std::string user = aor.substr(0, aor.find('@'));
    const int family = std::stoi(aor.substr(aor.rfind(".H") + 2));
    if (asked == kTop) return "sip:D2@127.0.0.1:5220";
    if (asked == "sip:D2@127.0.0.1:5220") return "sip:H" + std::to_string(family) + "@127.0.0.1:5230";
    return user_contact(user, family);  // the family server itself
  }
};

// The family server H9@C1.D1 as its phones' outbound proxy: their calls to
// the families of D2 are resolved through the tree on the caller's loop and
// forwarded from there, with the resolver's cache shared by every loop and
// dropped now and then from the main loop.
TEST(PhonesThreadsTest, CallsThroughTheTreeFromEveryLoopAreForwardedOnTheirOwnLoop) {
  ManualLoop main;
  current_loop = &main;
  TreeOfServers servers;
  FakeLogger log;
  LockedStore store;
  ResolverSettings settings;
  settings.top = kTop;
  settings.from = "sip:H9@C1.D1";
  settings.top_domain = "C1";
  TreeResolver resolver(servers, settings, log);
  const ServerIdentity me{"H9", "C1.D1"};
  PhoneProxy phones(me, store, resolver, log);
  std::atomic<uint64_t> forwarded{0};
  redirect::RedirectHandler handler(me, redirect::RedirectPolicy{kTop, {"INVITE"}}, store, log,
                                    redirect::HandlerParts{[](const UriView&) { return false; }, nullptr,
                                                           &phones, Counter(), Counter(&forwarded), ""});

  constexpr int kCallsPerLoop = 50;
  constexpr int kFamilies = 5;
  int forgets = 0;
  Loops loops;
  loops.run(
      [&](int t, ManualLoop& loop, const std::function<void(std::string)>& problem) {
        for (int i = 0; i < kCallsPerLoop; ++i) {
          const std::string user = "U" + std::to_string(t) + "x" + std::to_string(i);
          const int family = 1 + i % kFamilies;
          const std::string aor = user + "@C1.D2.H" + std::to_string(family);
          RequestBuilder call = invite(aor, aor);
          call.from("sip:U1@C1.D1.H9").routed_here();
          const Result r = handle(handler, loop, call);
          if (r.disposition != Disposition::kSuspended || r.replies != 0 || r.forwards.size() != 1 ||
              r.forwards[0] != TreeOfServers::user_contact(user, family))
            problem(aor + ": " + r.text());
        }
      },
      [&] {
        if (++forgets <= 2000) resolver.forget("C1.D2");  // a hop failed, says the main loop
        std::this_thread::sleep_for(100us);
      });
  EXPECT_TRUE(loops.problems().empty()) << ::testing::PrintToString(loops.problems());
  EXPECT_EQ(forwarded.load(), static_cast<uint64_t>(kThreads * kCallsPerLoop));
  EXPECT_EQ(servers.off_loop.load(), 0);
  // Each call asks at least its family server; the cache saves the top and D2 at times.
  EXPECT_GE(servers.sent.load(), kThreads * kCallsPerLoop);
  EXPECT_LE(servers.sent.load(), 3 * kThreads * kCallsPerLoop);
  current_loop = nullptr;
}

}  // namespace
}  // namespace homesip::tree
