// The register module's client side (paper, Fig. 4): a server with a parent
// registers its own AOR with the top of the tree, follows the 302s down to its
// parent, then refreshes there. When a refresh fails (parent restarted, gone,
// or moved) it starts again from the configured entry point with backoff.
// Its REGISTERs go through the SDK's SipClient, like any plugin's request.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "event_loop.hpp"
#include "homesip/client.hpp"

namespace homesip::core {

struct UpstreamSettings {
  std::string aor;         // "H1@C1.D1"
  std::string contact;     // where the parent reaches this server: "sip:H1@127.0.0.1:5130"
  std::string entry;       // where registration starts: the top server (or the parent itself)
  uint32_t expires = 120;  // seconds asked for
  int max_redirects = 5;
  std::chrono::milliseconds max_backoff{30000};
};

class UpstreamRegistration {
 public:
  enum class State { kIdle, kRegistering, kRegistered, kWaitingToRetry, kStopped };

  // `client` and `loop` must outlive this object.
  UpstreamRegistration(SipClient& client, SofiaEventLoop& loop, UpstreamSettings settings,
                       std::shared_ptr<spdlog::logger> log);
  ~UpstreamRegistration();
  UpstreamRegistration(const UpstreamRegistration&) = delete;
  UpstreamRegistration& operator=(const UpstreamRegistration&) = delete;

  void start();
  // Sends an unregister (Expires: 0) to the registrar and stops refreshing.
  void stop();
  State state() const { return state_; }
  const std::string& registrar() const { return registrar_; }
  // True while the goodbye sent by stop() waits for its answer.
  bool unregistering() const { return unregistering_; }

 private:
  void send_to(const std::string& target, uint32_t expires);
  void handle_final(const SipResponse& response);
  void on_registered(const SipResponse& response);
  void on_redirect(const SipResponse& response);
  void retry_later(const std::string& why);
  void schedule(std::chrono::milliseconds delay, std::function<void()> action);

  SipClient& client_;
  SofiaEventLoop& loop_;
  UpstreamSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  // One Call-ID and From tag for the registration's lifetime and a CSeq that
  // counts up, so the parent's registrar sees refreshes, not new bindings.
  std::string from_;
  std::string call_id_;
  uint32_t cseq_ = 0;
  std::unique_ptr<ClientTransaction> pending_;
  std::unique_ptr<Timer> timer_;
  State state_ = State::kIdle;
  std::string target_;     // where the request in flight went
  std::string registrar_;  // the server that answered 200 (refreshes go there)
  int redirects_ = 0;
  std::chrono::milliseconds backoff_{1000};
  bool unregistering_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted actions
};

}  // namespace homesip::core
