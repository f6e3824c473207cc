// The request chain. Every request walks the handlers in phase order; each
// handler passes the request on, answers it, forwards it statelessly, or
// suspends it while asynchronous work runs (a user lookup, a store write, a
// query through the tree), then resumes the chain at the next handler or
// answers or forwards.
//
// ACK walks the chain too, since a server that forwards INVITEs must forward
// their ACKs. An ACK is never answered: reply() on it sends nothing, and an
// ACK no handler forwards is dropped (the ACK of the core's own final answer).
//
// Threads: on_request() runs on the loop thread that received the request
// (IncomingRequest::loop()). With more than one loop, a handler is called for
// different requests from several loops at once: keep per-request state in the
// request's attributes or the callback's captures, and shared state in
// services (which are safe from any loop). A SuspendedRequest is resumed or
// answered on its own loop: post() to it from a worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "homesip/attributes.hpp"
#include "homesip/loop.hpp"
#include "homesip/reply.hpp"
#include "homesip/request.hpp"

namespace homesip {

// Where a handler sits in the chain. The host sorts handlers by phase, then by
// `order` within the phase, then by the config's order of the plugins; the
// order plugins are listed in does not change which phase runs first.
enum class Phase : uint16_t {
  kSanity = 100,         // refuse what no later handler should see
  kAuthenticate = 200,   // prove who sent it (sets kAuthenticatedIdentity)
  kAuthorize = 300,      // decide whether that sender may do this
  kLocalServices = 400,  // requests this server serves itself (appliances, presence)
  kRouting = 500,        // where a request goes (redirects through the tree)
  kRegistrar = 600,      // REGISTER for this server's own domain
  kFallback = 700,       // anything left
};

struct HandlerPlacement {
  Phase phase = Phase::kFallback;
  int32_t order = 0;           // lower runs first within the phase
  std::string_view name = {};  // shown by `homesipctl plugins` and in logs; the plugin's name when empty
};

enum class Disposition {
  kContinue,   // not mine: give the request to the next handler
  kHandled,    // answered or forwarded: the chain stops
  kSuspended,  // suspend() was called: the chain waits for resume() or an answer
};

// A request taken out of the chain until asynchronous work ends. Owns the
// request: its views and attributes stay valid while this object lives. Use it
// on the request's loop thread only (loop()); at most one of resume(),
// reply() and forward(). Destroying it unanswered answers 500; a request still suspended
// when the server shuts down is answered 503 with Retry-After.
class __attribute__((visibility("default"))) SuspendedRequest {
 public:
  virtual ~SuspendedRequest() = default;
  virtual const SipRequest& request() const = 0;
  virtual Attributes& attributes() = 0;
  virtual EventLoop& loop() = 0;
  // Goes on with the handler after the one that suspended (which may suspend
  // again); the core answers if no handler does.
  virtual void resume() = 0;
  virtual void reply(const Reply& reply) = 0;
  // Forwards statelessly, as IncomingRequest::forward().
  virtual void forward(std::string_view request_uri) = 0;
  // True once resume(), reply() or forward() was called.
  virtual bool finished() const = 0;
  // Forwards on a flow, as IncomingRequest::forward_on_flow() (3.3).
  virtual void forward_on_flow(std::string_view request_uri, std::string_view /*flow*/) {
    forward(request_uri);
  }
};

// The request in hand while the chain runs.
class __attribute__((visibility("default"))) IncomingRequest {
 public:
  virtual ~IncomingRequest() = default;
  virtual const SipRequest& request() const = 0;
  virtual Attributes& attributes() = 0;
  // The loop this request runs on: post() to it to come back from another thread.
  virtual EventLoop& loop() = 0;
  // Answers now; the handler then returns kHandled. At most once.
  virtual void reply(const Reply& reply) = 0;
  // Sends the request on as a stateless proxy (RFC 3261 16.11) with
  // `request_uri` as its Request-URI (the request's own to keep it), then the
  // handler returns kHandled. The core decrements Max-Forwards (the handler
  // answers 483 before forwarding one at 0), adds its Via with a branch
  // computed from the request, so a retransmission, its CANCEL and the ACK
  // of a failure reach the next hop with the same branch, and sends it to the
  // next Route entry or else to `request_uri`. Responses come back through
  // the core, which takes its Via off and sends them on; nothing is kept.
  // Throws std::invalid_argument when `request_uri` is not a SIP URI.
  virtual void forward(std::string_view request_uri) = 0;
  // Takes the request out of the chain; the handler then returns kSuspended.
  // At most once per handler call.
  virtual std::unique_ptr<SuspendedRequest> suspend() = 0;
  // The To-tag the core puts on a reply that sets none (see Reply::to_tag).
  virtual std::string_view reply_to_tag() const = 0;
  // Ends the request without any answer; the handler then returns kHandled.
  // For a sender that must learn nothing, not even that it was refused (a
  // banned source): an answer would only cost us and feed the flood. (3.1;
  // a plugin's own IncomingRequest wrapper written for 3.0 answers 403.)
  virtual void discard() { reply(Reply(403, "Forbidden")); }
  // SDK 3.3. Forwards as forward() does, but on the open TCP/TLS connection
  // `flow` names (a binding's source, "tls:IP:PORT"), the one a phone
  // registered over (RFC 5626): a phone behind NAT, or one whose Contact
  // names a port without a certificate, is reached nowhere else. When that
  // connection is gone, the request goes to `request_uri` as forward() sends
  // it. A dialog this starts gets the server's Record-Route twice (RFC 5658),
  // so the dialog's later requests come back here and find the flow
  // (SipRequest::flow()). A plugin's own wrapper written for 3.2 forwards.
  virtual void forward_on_flow(std::string_view request_uri, std::string_view /*flow*/) {
    forward(request_uri);
  }
};

class __attribute__((visibility("default"))) RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Called for every request, ACK too (see the top of this file). The core
  // keeps no transaction state, so a retransmission walks the chain again:
  // handlers must be idempotent. An exception answers 500 and is logged.
  virtual Disposition on_request(IncomingRequest& request) = 0;
};

}  // namespace homesip
