// The SDK's SipClient on sofia-sip's nta: requests plugins (and the core's
// upward registration) send, each an RFC 3261 client transaction of nta's
// (retransmission over UDP, timers F and B, DNS and transport selection).
//
// Thread model: one nta agent belongs to one su_root, so send() is called on
// that loop's thread and every callback runs there. Today the core has one
// loop, so that is the loop every plugin's request arrives on. A second loop
// would need either an agent (and an NtaSipClient) per loop, or send() posting
// to the agent's loop and the answer posted back to the caller's loop.
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
  void forget(Pending* pending) { outstanding_.erase(pending); }
  void fail_later(const std::shared_ptr<Pending>& pending, msg_s* request, const char* why);

  nta_agent_s* agent_;
  SofiaEventLoop& loop_;
  std::string default_from_;
  std::shared_ptr<spdlog::logger> log_;
  std::unordered_set<Pending*> outstanding_;
};

}  // namespace homesip::core
