// The request chain: plugins' handlers sorted by (phase, order, the plugin's
// place in the config), walked for every request, ACK too. A handler passes a
// request on, answers it, forwards it statelessly, or suspends it; a
// suspended request resumes at the next handler or is answered or forwarded
// later. What no handler answers, the core's defaults do; an ACK is never
// answered (what no handler forwards is dropped). Independent of sofia-sip: it sees a SipRequest and where
// its one answer goes (ChainRequest), so the test kit's requests drive it too.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/handler.hpp"

namespace homesip::core {

// A request's typed attributes: a short list searched by name, which
// allocates nothing until a handler sets a value.
class AttributeSet final : public Attributes {
 protected:
  void set_erased(std::string_view name, const char* type, std::shared_ptr<void> value) override;
  const void* get_erased(std::string_view name, const char* type) const override;

 private:
  struct Entry {
    std::string name;
    std::string type;
    std::shared_ptr<void> value;
  };
  std::vector<Entry> entries_;
};

// One request as its transport hands it to the chain: the view handlers read
// and where its one answer goes. Owns the message it views.
class ChainRequest {
 public:
  virtual ~ChainRequest() = default;
  virtual const SipRequest& request() const = 0;
  // The To-tag the reply writer puts on a reply that sets none.
  virtual std::string_view reply_to_tag() const = 0;
  // Writes the answer; called at most once, never for an ACK.
  virtual void answer(const Reply& reply) = 0;
  // Sends the request on to `request_uri` as a stateless proxy (called at
  // most once, instead of answer()), on the connection `flow` names when it
  // is not empty (IncomingRequest::forward_on_flow). Throws
  // std::logic_error when its Max-Forwards is 0, before taking the request.
  virtual void forward(std::string_view request_uri, std::string_view flow) = 0;
  // Moves the request (the message and where to answer) into an object of its
  // own when a handler suspends it; this one is left owning nothing.
  virtual std::unique_ptr<ChainRequest> detach() = 0;
  // Called before answer() when a handler set kAuthenticatedIdentity: the
  // sender is proven, so its responses need no bound on their size
  // (server.limits.udp_amplification).
  virtual void mark_sender_authenticated() {}
};

// A handler in the chain, as `homesipctl plugins` shows it.
struct ChainEntry {
  RequestHandler* handler = nullptr;
  Phase phase = Phase::kFallback;
  int32_t order = 0;
  size_t plugin_index = 0;  // the plugin's place in the config
  std::string plugin;
  std::string name;  // the placement's name, or the plugin's
};

class Suspension;
class ChainWalk;

class RequestChain {
 public:
  explicit RequestChain(std::shared_ptr<spdlog::logger> log);
  ~RequestChain();
  RequestChain(const RequestChain&) = delete;
  RequestChain& operator=(const RequestChain&) = delete;

  // Adds `handler` of the plugin at `plugin_index` in the config; the chain
  // stays sorted by (phase, order, plugin_index, the order handlers came in).
  void add(RequestHandler& handler, HandlerPlacement placement, size_t plugin_index, std::string plugin);
  const std::vector<ChainEntry>& entries() const { return entries_; }

  // Walks the chain for `request` on `loop`'s thread. The request may be
  // detached by a handler that suspends it; otherwise it is answered when this
  // returns.
  void run(ChainRequest& request, EventLoop& loop);

  // Requests suspended and not answered yet, on every loop. Any thread.
  size_t suspended() const { return suspended_count_; }
  // Answers every request still suspended on `loop` (on every loop: nullptr,
  // once no other loop turns) 503 with Retry-After (shutdown). On that loop's thread.
  void answer_suspended(uint32_t retry_after_seconds, const EventLoop* loop);

  // What the core answers when no handler did: OPTIONS 200 with Allow,
  // CANCEL and BYE 481 (no transaction, no dialog), anything else 501.
  static Reply default_reply(Method method);

 private:
  friend class Suspension;
  friend class ChainWalk;
  void walk(ChainWalk& walk, size_t from);
  void remember(Suspension* suspension);
  void forget(Suspension* suspension);

  std::shared_ptr<spdlog::logger> log_;
  std::vector<ChainEntry> entries_;
  // Every live suspension of every loop, in an intrusive list: thousands may
  // wait for one store commit, and each leaves in O(1).
  std::mutex suspended_mutex_;
  Suspension* first_suspended_ = nullptr;
  std::atomic<size_t> suspended_count_{0};
};

}  // namespace homesip::core
