// Request handlers: the chain every incoming request walks, in the order the
// config loads the plugins. A handler either passes the request on, answers it
// at once, or defers the answer until asynchronous work (a store write) ends.
#pragma once

#include <memory>

#include "homesip/reply.hpp"
#include "homesip/request.hpp"

namespace homesip {

// A request whose answer comes later. Keeps the request (and its views) alive.
// send() must be called on the loop thread, at most once; destroying an
// unsent DeferredReply answers 500 so no request is left without an answer.
class __attribute__((visibility("default"))) DeferredReply {
 public:
  virtual ~DeferredReply() = default;
  virtual const SipRequest& request() const = 0;
  virtual void send(const Reply& reply) = 0;
};

// The request in hand while the chain runs.
class __attribute__((visibility("default"))) IncomingRequest {
 public:
  virtual ~IncomingRequest() = default;
  virtual const SipRequest& request() const = 0;
  // Answers now. At most once, and not after defer().
  virtual void reply(const Reply& reply) = 0;
  // Takes the request out of the chain to answer later.
  virtual std::unique_ptr<DeferredReply> defer() = 0;
};

enum class Disposition {
  kContinue,  // not mine: give the request to the next handler
  kHandled,   // answered, or deferred: the chain stops here
};

class __attribute__((visibility("default"))) RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Called on the loop thread for every request except ACK (stateless
  // replies need no ACK handling) and retransmissions alike: the core keeps
  // no transaction state, so handlers must be idempotent.
  virtual Disposition on_request(IncomingRequest& request) = 0;
};

}  // namespace homesip
