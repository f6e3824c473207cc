// The Authenticator called from several loops at once, as `server.loops: N`
// calls it: each thread owns a ManualLoop and hands its requests to the one
// handler; the user store answers on the caller's loop. Exact counts at the
// end: every nonce's first use accepted once, every replay refused once, one
// nonce replayed from every loop accepted exactly once, one ban however many
// loops see the failures.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "authenticator.hpp"
#include "homesip/digest/digest.hpp"
#include "homesip/testkit/testkit.hpp"

namespace homesip::auth_digest {
namespace {

using testkit::FakeIncomingRequest;
using testkit::FakeLogger;
using testkit::ManualLoop;
using testkit::RequestBuilder;
using namespace std::chrono_literals;

constexpr const char* kRealm = "C1.D1.H1";
constexpr int kThreads = 4;

// The loop of the thread running now: what the core's current_loop() gives a service.
thread_local EventLoop* current_loop = nullptr;

// Users in memory, read from any loop thread; each answer is posted to the
// caller's loop, as the SDK's stores answer.
class PostingUserStore final : public UserStore {
 public:
  PostingUserStore() {
    for (int t = 0; t < kThreads; ++t) add("U" + std::to_string(t), "pw" + std::to_string(t));
  }
  void find_user(std::string_view aor, UserDone done) override {
    std::optional<UserRecord> user;
    if (const auto it = users_.find(std::string(aor)); it != users_.end()) user = it->second;
    current_loop->post([user = std::move(user), done = std::move(done)] { done(StoreStatus::kOk, user); });
  }
  void list_users(std::string_view, UserListDone done) override { done(StoreStatus::kError, {}); }
  void put_user(const UserRecord&, UserWriteDone done) override { done(StoreStatus::kError); }
  void remove_user(std::string_view, UserWriteDone done) override { done(StoreStatus::kError); }

 private:
  void add(const std::string& user, const std::string& password) {
    UserRecord record{user + "@" + kRealm, kRealm, "member", {}};
    record.credentials.push_back(
        UserCredential{kRealm, "SHA-256", digest::ha1(digest::Algorithm::kSha256, user, kRealm, password)});
    users_[record.aor] = record;
  }
  std::map<std::string, UserRecord> users_;  // written before the threads start only
};

struct Metrics {
  std::atomic<uint64_t> ok{0}, failed{0}, challenges{0}, bans{0}, discarded{0};
  AuthMetrics handles() {
    return {Counter(&ok), Counter(&failed), Counter(&challenges), Counter(&bans), Counter(&discarded)};
  }
};

RequestBuilder reg(const std::string& user, const std::string& source_ip = "192.0.2.7") {
  return RequestBuilder::registration(user + "@" + kRealm)
      .contact("<sip:" + user + "@192.0.2.7:5060>")
      .source("udp", source_ip, 5060);
}

// `builder` with SHA-256 credentials answering `challenge`.
RequestBuilder answered(RequestBuilder builder, const digest::DigestParams& challenge,
                        const std::string& user, const std::string& password, uint32_t nc,
                        const std::string& cnonce) {
  const auto value = digest::authorization(challenge, user, password, "REGISTER", "sip:C1.D1.H1", cnonce, nc);
  EXPECT_TRUE(value);
  builder.header("Authorization", value.value_or(""));
  return builder;
}

// What became of one request handed to the handler on this thread's loop.
struct Result {
  Disposition disposition = Disposition::kContinue;
  int status = 0;  // the one reply's status; 0: none
  size_t replies = 0;
  bool resumed = false;
  bool discarded = false;
  std::string identity;  // the AOR authenticated, if any
  std::optional<digest::DigestParams> challenge;
};

// Hands `builder`'s request to `handler` and turns `loop` until it is
// answered, resumed or ended (bounded: 10 s).
Result handle(RequestHandler& handler, ManualLoop& loop, const RequestBuilder& builder) {
  FakeIncomingRequest incoming(builder.build(), loop);
  Result r;
  r.disposition = handler.on_request(incoming);
  loop.run_until([&] { return !incoming.replies().empty() || incoming.resumed() || incoming.discarded(); },
                 10s);
  r.replies = incoming.replies().size();
  if (const Reply* reply = incoming.last_reply()) {
    r.status = reply->status;
    for (const auto& [name, value] : reply->headers)
      if (name == "WWW-Authenticate" && value.find("SHA-256") != std::string::npos)
        r.challenge = digest::parse(value);
  }
  r.resumed = incoming.resumed();
  r.discarded = incoming.discarded();
  if (const auto* identity = incoming.attributes().get(kAuthenticatedIdentity)) r.identity = identity->aor;
  return r;
}

class AuthDigestThreadsTest : public ::testing::Test {
 protected:
  void make(BanSettings bans = {}) {
    AuthSettings settings;
    settings.realm = kRealm;
    settings.algorithms = {digest::Algorithm::kSha256};
    settings.bans = bans;
    authenticator_ = std::make_unique<Authenticator>(store_, log_, settings, "a secret of sixteen+ bytes",
                                                     metrics_.handles());
  }
  void SetUp() override { make(); }

  // Runs `work(thread index, its loop)` on kThreads threads that start together.
  void on_loops(const std::function<void(int, ManualLoop&)>& work) {
    std::latch ready(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ManualLoop loop;  // owned by this thread
        current_loop = &loop;
        ready.arrive_and_wait();
        work(t, loop);
        current_loop = nullptr;
      });
    for (std::thread& thread : threads) thread.join();
  }

  PostingUserStore store_;
  FakeLogger log_;
  Metrics metrics_;
  std::unique_ptr<Authenticator> authenticator_;
};

TEST_F(AuthDigestThreadsTest, EachNonceIsAcceptedOnceAndEachReplayRefusedOnceOnEveryLoop) {
  constexpr int kRounds = 50;
  std::mutex mutex;
  std::set<std::string> nonces;
  std::vector<std::string> problems;
  on_loops([&](int t, ManualLoop& loop) {
    const std::string user = "U" + std::to_string(t), password = "pw" + std::to_string(t);
    const std::string aor = user + "@" + kRealm;
    auto problem = [&](int round, const std::string& what, const Result& r) {
      std::lock_guard lock(mutex);
      problems.push_back(aor + " round " + std::to_string(round) + ": " + what + " (status " +
                         std::to_string(r.status) + ", resumed " + std::to_string(r.resumed) + ")");
    };
    for (int round = 0; round < kRounds; ++round) {
      const Result challenged = handle(*authenticator_, loop, reg(user));
      if (challenged.status != 401 || !challenged.challenge)
        return problem(round, "no challenge", challenged);
      const digest::DigestParams& challenge = *challenged.challenge;
      {
        std::lock_guard lock(mutex);
        nonces.insert(challenge.nonce);
      }
      const std::string cnonce = "c" + std::to_string(t) + "-" + std::to_string(round);
      const Result first =
          handle(*authenticator_, loop, answered(reg(user), challenge, user, password, 1, cnonce));
      if (!first.resumed || first.replies != 0 || first.identity != aor)
        problem(round, "nc 1 refused", first);
      const Result replay =
          handle(*authenticator_, loop, answered(reg(user), challenge, user, password, 1, cnonce));
      if (replay.status != 401 || replay.replies != 1 || replay.resumed || !replay.challenge ||
          replay.challenge->stale)
        problem(round, "replay not refused", replay);
      const Result next =
          handle(*authenticator_, loop, answered(reg(user), challenge, user, password, 2, cnonce));
      if (!next.resumed || next.replies != 0 || next.identity != aor) problem(round, "nc 2 refused", next);
    }
  });
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
  constexpr uint64_t kChallenges = kThreads * kRounds;
  EXPECT_EQ(nonces.size(), kChallenges);  // no two challenges share a nonce, whichever loop made them
  EXPECT_EQ(authenticator_->nonce_counts().size(), kChallenges);
  EXPECT_EQ(metrics_.ok.load(), 2 * kChallenges);
  EXPECT_EQ(metrics_.failed.load(), kChallenges);
  EXPECT_EQ(metrics_.challenges.load(), 2 * kChallenges);  // the first ones and one per replay
  EXPECT_EQ(log_.count("reason=\"replayed nonce count\""), kChallenges);
  EXPECT_EQ(metrics_.bans.load(), 0u);  // a replay is no wrong password
}

TEST_F(AuthDigestThreadsTest, OneNonceCountReplayedOnEveryLoopIsAcceptedExactlyOnce) {
  constexpr int kCopies = 25;  // per loop, each with its own cnonce
  ManualLoop main;
  current_loop = &main;
  const Result challenged = handle(*authenticator_, main, reg("U0"));
  current_loop = nullptr;
  ASSERT_TRUE(challenged.challenge);
  const digest::DigestParams challenge = *challenged.challenge;
  std::atomic<int> accepted{0}, refused{0}, other{0};
  on_loops([&](int t, ManualLoop& loop) {
    for (int copy = 0; copy < kCopies; ++copy) {
      const std::string cnonce = "c" + std::to_string(t) + "-" + std::to_string(copy);
      const Result r = handle(*authenticator_, loop, answered(reg("U0"), challenge, "U0", "pw0", 1, cnonce));
      if (r.resumed && r.replies == 0 && r.identity == std::string("U0@") + kRealm)
        ++accepted;
      else if (r.status == 401 && r.replies == 1 && !r.resumed && r.challenge && !r.challenge->stale)
        ++refused;
      else
        ++other;
    }
  });
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(refused.load(), kThreads * kCopies - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(metrics_.ok.load(), 1u);
  EXPECT_EQ(log_.count("reason=\"replayed nonce count\""), static_cast<size_t>(kThreads * kCopies - 1));
  EXPECT_EQ(authenticator_->nonce_counts().size(), 1u);
}

TEST_F(AuthDigestThreadsTest, WrongPasswordsFromOneSourceOnEveryLoopBanItOnce) {
  make(BanSettings{10, 60, 600, 100});
  constexpr int kTries = 10;  // per loop: 40 in all, 10 ban
  const std::string attacker = "192.0.2.66";
  ManualLoop main;
  current_loop = &main;
  const Result challenged = handle(*authenticator_, main, reg("U0", attacker));
  current_loop = nullptr;
  ASSERT_TRUE(challenged.challenge);
  const digest::DigestParams challenge = *challenged.challenge;
  std::atomic<int> refused{0}, discarded{0}, other{0};
  on_loops([&](int t, ManualLoop& loop) {
    for (int i = 0; i < kTries; ++i) {
      const uint32_t nc = static_cast<uint32_t>(t * kTries + i + 1);
      const Result r =
          handle(*authenticator_, loop,
                 answered(reg("U0", attacker), challenge, "U0", "wrong", nc, "c" + std::to_string(nc)));
      if (r.discarded && r.replies == 0)
        ++discarded;
      else if (r.status == 401 && r.replies == 1 && !r.resumed)
        ++refused;
      else
        ++other;
    }
  });
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(refused.load() + discarded.load(), kThreads * kTries);
  EXPECT_GE(refused.load(), 10);  // the ban needs ten failures; more may be in flight as it begins
  EXPECT_EQ(metrics_.failed.load(), static_cast<uint64_t>(refused.load()));
  EXPECT_EQ(metrics_.discarded.load(), static_cast<uint64_t>(discarded.load()));
  EXPECT_EQ(metrics_.bans.load(), 1u);  // however many loops counted toward it
  EXPECT_EQ(log_.count("banned ip=192.0.2.66 "), 1u);
  EXPECT_EQ(metrics_.ok.load(), 0u);

  // Banned now on any loop; another source is not.
  ManualLoop after;
  current_loop = &after;
  const Result banned =
      handle(*authenticator_, after, answered(reg("U0", attacker), challenge, "U0", "pw0", 1000, "late"));
  EXPECT_TRUE(banned.discarded);
  const Result other_challenged = handle(*authenticator_, after, reg("U0", "192.0.2.67"));
  ASSERT_TRUE(other_challenged.challenge);
  const Result other_source =
      handle(*authenticator_, after,
             answered(reg("U0", "192.0.2.67"), *other_challenged.challenge, "U0", "pw0", 1, "other"));
  EXPECT_TRUE(other_source.resumed);
  current_loop = nullptr;
}

}  // namespace
}  // namespace homesip::auth_digest
