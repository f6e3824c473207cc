// The SIP front end: one sofia-sip nta agent, stateless, on the configured
// transports. Every request walks the plugins' handler chain on the loop
// thread; the core answers what no handler takes (OPTIONS, CANCEL, the rest).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <memory>
#include <vector>

#include "config.hpp"
#include "event_loop.hpp"
#include "homesip/handler.hpp"

struct nta_agent_s;
struct msg_s;
struct sip_s;

namespace homesip::core {

class SipServer {
 public:
  SipServer(SofiaEventLoop& loop, const ServerConfig& config, std::shared_ptr<spdlog::logger> log);
  ~SipServer();
  SipServer(const SipServer&) = delete;
  SipServer& operator=(const SipServer&) = delete;

  void add_handler(RequestHandler& handler) { handlers_.push_back(&handler); }

  // Binds every listener. Throws std::runtime_error naming the address that failed.
  void start();
  // Closes the listeners; deferred replies still pending are answered 503.
  void stop();

  // Answers `msg` (taking ownership of it). Loop thread only.
  void send_reply(msg_s* msg, const Reply& reply);
  void deferred_done() { --deferred_; }
  size_t deferred_pending() const { return deferred_.load(); }
  // The agent, for the core's own outgoing requests (upstream registration).
  nta_agent_s* agent() const { return agent_; }

 private:
  static int on_message(void* self, nta_agent_s* agent, msg_s* msg, sip_s* sip);
  void handle(msg_s* msg, sip_s* sip);
  bool well_formed(msg_s* msg, sip_s* sip);
  // Answers `reply` (or drops an ACK); always false, for well_formed's returns.
  bool reject(msg_s* msg, sip_s* sip, const Reply& reply);

  SofiaEventLoop& loop_;
  ServerConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  nta_agent_s* agent_ = nullptr;
  std::vector<RequestHandler*> handlers_;
  std::atomic<size_t> deferred_{0};
  friend class SofiaIncomingRequest;
};

}  // namespace homesip::core
