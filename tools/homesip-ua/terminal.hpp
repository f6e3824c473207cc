// The sofia-sip side of homesip-ua: one su_root, one nua, one thread. A
// command (register, call, …) is a Terminal subclass driven by nua events.
#pragma once

#include <sofia-sip/nua.h>
#include <sofia-sip/su_wait.h>

#include <array>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "options.hpp"
#include "redirects.hpp"

namespace homesip::ua {

struct Event {
  nua_event_t id;
  int status;
  std::string phrase;
  nua_handle_t* nh;
  const sip_t* sip;  // valid during the callback only
  tagi_t* tags;
};

class Terminal {
 public:
  explicit Terminal(const Options& options);
  virtual ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Runs until finish(); returns the exit code.
  int run();

 protected:
  virtual void start() = 0;
  virtual void on_event(const Event& e) = 0;
  // SIGTERM/SIGINT arrived (polled by a timer: su_root_break is not signal-safe).
  virtual void on_stop_signal() { finish(kExitOk); }

  // Ends the run with `code`: shuts nua down (first call wins).
  void finish(int code);
  // Ends the run without nua_shutdown, which would unregister every binding
  // nua holds (even one whose handle was destroyed): `register --once` leaves
  // its binding in place. run() then ends the process at once.
  void abandon(int code);
  void after(double seconds, std::function<void()> fn);
  // Before a request goes to `destination` over TLS: when its server would be
  // refused (tls_probe.hpp), says why on stderr and finishes with exit 2.
  bool tls_refused(const std::string& destination);
  // Our answers to the digest challenges of the current hop (RFC 3261 22):
  // the commands add them to the request they resend to the same place.
  struct Credentials {
    std::string authorization;        // to a 401 (WWW-Authenticate)
    std::string proxy_authorization;  // to a 407 (Proxy-Authenticate)
    std::string call_id;              // of the challenged request: the answer keeps it (RFC 3261 8.1.3.5)
    int answers = 0;
  };
  enum class Challenge { kNone, kAnswered, kFailed };
  // A 401/407 to `method` sent to `request_uri`: kAnswered when we now hold
  // an answer (resend the request to the same hop); kFailed, said
  // why, without a password, for a second challenge after our answer (a wrong
  // password) or past kMaxChallengeAnswers; kNone for any other status.
  Challenge answer_challenge(const Event& e, const std::string& method, const std::string& request_uri);
  // The answers as tags for the request that goes to the same hop again:
  // TAG_NEXT(credential_tags()) ends its tag list. Valid until the next call.
  const tagi_t* credential_tags();
  // RFC 3261 21.5.4: a 503 with Retry-After (an overloaded or rate-limiting
  // server) is tried again after it, plus up to 10% (at most 1 s) so that the
  // clients it refused together do not come back together; kMaxBusyRetries
  // times per command, and only for a Retry-After of at most
  // --max-retry-after: a longer one (a device offline, 30 s) is final at
  // once for a command a person waits on. The retry is a new request with
  // no digest answers: the old ones carry a nonce and nc the server has seen
  // (a replay), so it is challenged afresh and answered like the first.
  // True when `resend` is scheduled (one line says so); false for any other
  // response, which the command then treats as final (a 503 without
  // Retry-After fails).
  bool retry_after_busy(const Event& e, std::function<void()> resend);
  static constexpr int kMaxBusyRetries = 5;
  // A hop to another server: the last one's answers are not for it.
  void forget_credentials() { credentials_ = Credentials{}; }
  // The current answers: watch keeps one set per subscription and swaps it in
  // around answer_challenge() and credential_tags().
  Credentials& credentials() { return credentials_; }
  nua_t* nua() const { return nua_; }
  const Options& options() const { return options_; }
  // The Contact a REGISTER names when --contact is not given: our --listen
  // address (sip:USER@HOST:PORT), when --ca adds a TLS transport beside a
  // UDP or TCP one; empty: nua's own. nua would name the transport the
  // REGISTER went out on, the TLS one towards a sips: server, where we take
  // no calls.
  std::string listen_contact(const std::string& user) const;

  // One line for a person; flushed, since tests and pipes read it live.
  // With --json the steps go to stderr: stdout carries the JSON only.
  static void say(const std::string& line);
  // A result line (a state, a NOTIFY): always stdout, flushed.
  static void print(const std::string& line);
  // "REGISTER sip:U1@… -> sip:127.0.0.1:5110: 302 Moved Temporarily"
  // plus " (server saw us at …)" when the response's Via has received/rport.
  static std::string response_line(const std::string& method, const std::string& subject,
                                   const std::string& dest, const Event& e);
  static std::vector<ContactChoice> contacts_of(const sip_t* sip);
  static std::string body_of(const sip_t* sip);
  // Prints why a chain stops and returns the exit code for it.
  static int redirect_failure(RedirectChain::Verdict v, const std::string& target, int max);

  // SDP offer/answer body: one PCMU stream, enough for real terminals.
  std::string sdp() const;

 private:
  class TlsFiles;
  struct Timer {
    Terminal* self;
    std::function<void()> fn;
    su_timer_t* timer;
  };
  static void nua_callback(nua_event_t event, int status, char const* phrase, nua_t* nua, nua_magic_t* magic,
                           nua_handle_t* nh, nua_hmagic_t* hmagic, sip_t const* sip, tagi_t tags[]);
  static void timer_callback(su_root_magic_t* magic, su_timer_t* t, su_timer_arg_t* arg);
  static void signal_poll(su_root_magic_t* magic, su_timer_t* t, su_timer_arg_t* arg);

  const Options options_;
  std::string listen_url_;  // options_.listen, its port 0 made a concrete free one when --ca is given
  su_root_t* root_ = nullptr;
  nua_t* nua_ = nullptr;
  su_timer_t* signal_timer_ = nullptr;
  std::list<std::unique_ptr<Timer>> timers_;
  static constexpr int kMaxChallengeAnswers = 3;  // a 407 then a 401, and one stale nonce
  Credentials credentials_;
  std::array<tagi_t, 4> credential_tags_{};
  int busy_retries_ = 0;  // 503 + Retry-After answers waited for (retry_after_busy)
  int code_ = kExitOk;
  bool finishing_ = false;
  bool abandoned_ = false;
  bool stop_seen_ = false;
};

}  // namespace homesip::ua
