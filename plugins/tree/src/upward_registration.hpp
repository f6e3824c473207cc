// The register module's client side (paper, Fig. 4): a server below the top
// registers its own AOR with the top of the tree, follows the 302s down to
// its parent, then refreshes there. The server that answered 200 is the
// parent. When a registration or refresh fails (parent restarted, gone or
// moved) it starts again from the top after a backoff (1 s doubling to 30 s,
// +-20 % jitter so children of one dead parent do not come back in step).
// A 503 with Retry-After (a busy parent or top: overload, rate limit, a store
// down) is different: the server said when to come back, so the same REGISTER
// goes to the same server after that time, plus up to 20 % (never sooner:
// the children it refused together do not come back together), without the
// backoff and without going back to the top, which in a storm is the busiest
// server; kMaxBusyRetries in a row at most, then it is a failure like others.
//
// Every REGISTER of one run carries the same Call-ID and From tag and a CSeq
// one higher than the last, so each registrar sees refreshes of one binding.
// `User-Agent: homesipd/<version>` tells the parent that the binding is a
// child server (which it then probes with keepalives), not a phone.
//
// A parent that loads auth-digest challenges the REGISTER (401, or 407 from
// a proxy): with a password (the tree's password_file) it is answered with
// digest credentials (username = this server's name, realm = its domain),
// and the nonce is kept so refreshes to the same parent carry credentials
// at once (nc counting up); a later challenge (stale=true or a new nonce) is
// answered again. A challenge right after an answered one that is not
// stale=true means the credentials were refused: a failure, with the backoff.
//
// Threads: the main loop only (start, stop, timers, the client's callbacks).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "homesip/client.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"

namespace homesip::tree {

struct UpwardSettings {
  std::string aor;         // "H1@C1.D1"
  std::string contact;     // where the parent reaches this server: "sip:H1@127.0.0.1:5130"
  std::string top;         // where registration starts: the top server
  std::string user_agent;  // "homesipd/0.1.0"
  uint32_t expires = 120;  // seconds asked for
  int max_redirects = 5;
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  double jitter = 0.2;  // each wait is the backoff times 1 +- jitter
  // This server's password at its parent (digest, RFC 3261 22); empty: a
  // challenge is a failure.
  std::string password;
};

class UpwardRegistration {
 public:
  enum class State { kIdle, kRegistering, kRegistered, kWaitingToRetry, kStopped };
  static constexpr int kMaxBusyRetries = 5;
  // Uniform in [0, 1): where in the jitter range a wait falls (tests pin it).
  using Random = std::function<double()>;

  // `client`, `loop` and `log` must outlive this object.
  UpwardRegistration(SipClient& client, EventLoop& loop, UpwardSettings settings, Logger& log,
                     Random random = {});
  ~UpwardRegistration();
  UpwardRegistration(const UpwardRegistration&) = delete;
  UpwardRegistration& operator=(const UpwardRegistration&) = delete;

  // Sends the first REGISTER to the top (the client sends from Plugin::start() on).
  void start();
  // Stops refreshing and sends the registrar an unregister (Expires: 0).
  void stop();

  State state() const { return state_; }
  static const char* state_name(State state);
  // The server that answered 200 (the parent; refreshes go there); empty before.
  const std::string& registrar() const { return registrar_; }
  // True while the goodbye sent by stop() waits for its answer.
  bool unregistering() const { return unregistering_; }
  // The wait before the retry now scheduled (zero when none is).
  std::chrono::milliseconds retry_delay() const { return retry_delay_; }

 private:
  void register_from_top();
  void send_to(const std::string& target, uint32_t expires);
  void handle_final(const SipResponse& response);
  void on_registered(const SipResponse& response);
  void on_redirect(const SipResponse& response);
  void on_challenge(const SipResponse& response);
  bool answer_challenge(const SipResponse& response, std::string* why);
  void retry_later(const std::string& why, std::chrono::milliseconds at_least = {});
  void retry_here_after(const std::string& why, std::chrono::milliseconds retry_after);
  std::chrono::milliseconds jittered(std::chrono::milliseconds backoff);
  void schedule(std::chrono::milliseconds delay, std::function<void()> action);

  SipClient& client_;
  EventLoop& loop_;
  UpwardSettings settings_;
  Logger& log_;
  Random random_;
  std::string from_;
  std::string call_id_;
  uint32_t cseq_ = 0;
  std::unique_ptr<ClientTransaction> pending_;
  std::unique_ptr<Timer> timer_;
  State state_ = State::kIdle;
  std::string target_;         // where the request in flight went
  uint32_t sent_expires_ = 0;  // the Expires of the request in flight
  std::string registrar_;      // the server that answered 200
  int redirects_ = 0;
  uint64_t failures_in_a_row_ = 0;  // attempts failed since the last success (one warn line per outage)
  int busy_in_a_row_ = 0;           // 503s with Retry-After waited for since the last other answer
  std::chrono::milliseconds backoff_;
  std::chrono::milliseconds retry_delay_{0};
  bool unregistering_ = false;
  // The digest challenge being answered: from `target` (credentials go only
  // there), in WWW-Authenticate (401) or Proxy-Authenticate (407).
  struct Challenge {
    std::string target;
    bool proxy = false;
    std::string realm, nonce, opaque, algorithm, qop;
    uint32_t nc = 0;
  };
  std::optional<Challenge> challenge_;
  bool sent_answer_ = false;     // the request in flight answers a challenge just received
  int challenges_in_a_row_ = 0;  // bounds stale after stale
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted actions
};

// The seconds of a Retry-After value ("120", "120 (busy);duration=60"), or nullopt.
std::optional<uint32_t> retry_after_seconds(std::string_view value);

}  // namespace homesip::tree
