// The SDK's SipClient on sofia-sip's nta: requests plugins (and the core's
// upward registration) send, each an RFC 3261 client transaction of nta's
// (retransmission over UDP, timers F and B, DNS and transport selection).
//
// Thread model: the nta agent belongs to the main loop. send() on the main
// loop starts the transaction at once; on another loop (server.loops) it
// builds the request there, hands it to the main loop, and the final
// response is posted back: every callback runs on the loop that sent.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "event_loop.hpp"
#include "homesip/client.hpp"

struct msg_s;
struct nta_agent_s;

namespace homesip::core {

class NtaSipClient final : public SipClient {
 public:
  // `agent` must outlive this client; `default_from` is the From of requests
  // that name none (this server's AOR, "sip:H1@C1.D1").
  NtaSipClient(nta_agent_s* agent, SofiaEventLoop& loop, std::string default_from,
               std::shared_ptr<spdlog::logger> log);
  // Releases every transaction still waiting; their callbacks are never called.
  ~NtaSipClient() override;
  NtaSipClient(const NtaSipClient&) = delete;
  NtaSipClient& operator=(const NtaSipClient&) = delete;

  std::unique_ptr<ClientTransaction> send(const OutgoingRequest& request, ResponseDone done) override;

  // Transactions whose final response has not been delivered (for tests and stats).
  size_t outstanding() const { return outstanding_.size(); }

  struct Pending;  // one request in flight; shared by its handle and this client

 private:
  friend struct Pending;
  using MessagePtr = std::unique_ptr<msg_s, void (*)(msg_s*)>;
  // On the main loop: hands the built request to nta.
  void start(const std::shared_ptr<Pending>& pending, MessagePtr msg, const std::string& next_hop);
  void forget(Pending* pending) { outstanding_.erase(pending); }
  void fail_later(const std::shared_ptr<Pending>& pending, msg_s* request, const char* why);

  nta_agent_s* agent_;
  SofiaEventLoop& loop_;
  std::string default_from_;
  std::shared_ptr<spdlog::logger> log_;
  std::unordered_set<Pending*> outstanding_;  // the main loop's thread only
  // False once the client is gone: a request another loop handed over then never starts.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace homesip::core
