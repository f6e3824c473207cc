// The SIP front end, stateless: UDP listeners the core owns (UdpTransport) and
// one sofia-sip nta agent for TCP and TLS and for the core's own outgoing
// requests. Every request walks the plugins' handler chain on the loop
// thread; the core answers what no handler takes (OPTIONS, CANCEL, the rest).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <memory>
#include <vector>

#include "config.hpp"
#include "event_loop.hpp"
#include "homesip/handler.hpp"
#include "udp_transport.hpp"

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

  // Answers `msg` (taking ownership of it) on the transport it came in on:
  // `udp`, or nta's when null. Loop thread only.
  void send_reply(msg_s* msg, const Reply& reply, UdpTransport* udp);
  void deferred_done() { --deferred_; }
  size_t deferred_pending() const { return deferred_.load(); }
  // The agent, for the core's own outgoing requests (upstream registration).
  nta_agent_s* agent() const { return agent_; }

 private:
  static int on_message(void* self, nta_agent_s* agent, msg_s* msg, sip_s* sip);
  // What nta checks before its message callback, for datagrams from `udp`.
  void receive_datagram(msg_s* msg, UdpTransport& udp);
  void start_nta(const std::vector<ListenAddress>& listeners);
  void handle(msg_s* msg, sip_s* sip, UdpTransport* udp);
  bool well_formed(msg_s* msg, sip_s* sip, UdpTransport* udp);
  // Answers `reply` (or drops an ACK); always false, for well_formed's returns.
  bool reject(msg_s* msg, sip_s* sip, const Reply& reply, UdpTransport* udp);
  void flush_udp();

  SofiaEventLoop& loop_;
  ServerConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  nta_agent_s* agent_ = nullptr;
  std::vector<std::unique_ptr<UdpTransport>> udp_;
  bool listening_ = false;
  std::vector<RequestHandler*> handlers_;
  std::atomic<size_t> deferred_{0};
  friend class SofiaIncomingRequest;
};

}  // namespace homesip::core
