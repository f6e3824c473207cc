// Requests a plugin sends: MESSAGE, NOTIFY, OPTIONS, REGISTER, ... to a URI
// over UDP, TCP or TLS. The core runs an RFC 3261 client transaction for each
// (retransmission over UDP, timer F / B), resolves the target (an IP, a
// hostname through DNS, or the URI's maddr/port/transport), and delivers the
// final response -- or a local 408 on timeout, 503 when it cannot be sent --
// once, on the loop thread that sent the request. Provisional responses are
// not delivered. Get it with PluginContext::client().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "homesip/request.hpp"

namespace homesip {

// Layout frozen for SDK 2.x: later additions go into `headers` or a new interface.
struct OutgoingRequest {
  std::string method;       // "MESSAGE", "NOTIFY", "REGISTER", ...
  std::string request_uri;  // "sip:light.kitchen@C1.D1.H1" or "sip:H1@192.0.2.1:5060;transport=tcp"
  // Where to send it when not to the Request-URI's host (an outbound proxy, a
  // server found through the tree): a SIP URI, or empty.
  std::string next_hop;
  std::string from;     // name-addr or URI; empty: this server's AOR. A tag is added when it has none.
  std::string to;       // empty: the Request-URI. Carries the To-tag inside a dialog.
  std::string call_id;  // empty: a new one
  uint32_t cseq = 0;    // 0: a new one
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Event, Expires, Contact, ...)
  std::string content_type;
  std::string body;

  OutgoingRequest() = default;
  OutgoingRequest(std::string m, std::string uri) : method(std::move(m)), request_uri(std::move(uri)) {}
  OutgoingRequest& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Called once with the final response (its views valid during the call only).
using ResponseDone = std::function<void(const SipResponse& response)>;

// A request in flight. Destroying it before the response arrives means the
// callback is never called (the transaction itself still ends normally).
class __attribute__((visibility("default"))) ClientTransaction {
 public:
  virtual ~ClientTransaction() = default;
  // The Call-ID and CSeq the request was sent with (for refreshes in one dialog).
  virtual std::string_view call_id() const = 0;
  virtual uint32_t cseq() const = 0;
};

class __attribute__((visibility("default"))) SipClient {
 public:
  virtual ~SipClient() = default;
  // Sends `request`. Throws std::invalid_argument when it cannot be built (a
  // bad URI or method); problems on the network come as a local response.
  virtual std::unique_ptr<ClientTransaction> send(const OutgoingRequest& request, ResponseDone done) = 0;
};

}  // namespace homesip
