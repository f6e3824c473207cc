// Read-only views of SIP messages: the request a handler is given and the
// response a client transaction receives. Every string_view points into the
// core's parsed message and is valid while the message is (for a request:
// while the chain runs, or until a SuspendedRequest is answered or
// destroyed; for a response: during the ResponseDone call).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/uri.hpp"

namespace homesip {

enum class Method : uint8_t {
  kUnknown = 0,
  kInvite,
  kAck,
  kBye,
  kCancel,
  kRegister,
  kOptions,
  kMessage,
  kSubscribe,
  kNotify,
  kPublish,
  kInfo,
  kRefer,
  kUpdate,
  kPrack,
};

// One Contact header value.
struct ContactView {
  bool wildcard = false;             // "Contact: *"
  std::string uri;                   // the URI as text, e.g. "sip:u1@10.0.0.7:5060"
  std::optional<uint32_t> expires;   // the ;expires= parameter, when valid
  bool expires_invalid = false;      // ;expires= present but not a number
  std::optional<uint16_t> q_millis;  // ;q=0.5 -> 500, when present and valid
  std::string_view instance;         // +sip.instance parameter value, or empty
};

// One Via header value, top first.
struct ViaView {
  std::string_view transport;  // "UDP", "TCP", "TLS" as written
  std::string_view host;
  std::string_view port;       // empty when absent
  std::string_view branch;     // empty when absent
  std::string_view received;   // empty when absent
  std::string_view rport;      // "" when absent or without a value
};

// Where the request came from on the wire.
struct SourceAddress {
  std::string_view transport;  // "udp", "tcp", "tls"
  std::string ip;
  uint16_t port = 0;
};

// What requests and responses share.
class __attribute__((visibility("default"))) SipMessage {
 public:
  virtual ~SipMessage() = default;

  virtual UriView from_uri() const = 0;
  virtual UriView to_uri() const = 0;
  virtual std::string_view from_tag() const = 0;  // empty when absent
  virtual std::string_view to_tag() const = 0;    // empty when absent
  virtual std::string_view call_id() const = 0;
  virtual uint32_t cseq() const = 0;
  virtual std::optional<uint32_t> expires_header() const = 0;  // Expires: header
  virtual bool expires_header_invalid() const = 0;
  // Every Contact value of every Contact line, in order.
  virtual std::vector<ContactView> contacts() const = 0;
  virtual std::string_view content_type() const = 0;
  virtual std::string_view body() const = 0;  // any octets, Content-Length of them
  // The first header line of `name` (case-insensitive; compact forms such as
  // "m" for Contact are the same header): its value as text, nullopt when absent.
  virtual std::optional<std::string_view> header(std::string_view name) const = 0;
  // The value of every line of header `name`, in order (all Authorization,
  // Route or Record-Route lines). A line with several comma-separated values
  // stays one entry; Contact and Via have contacts() and vias() for values.
  virtual std::vector<std::string_view> headers(std::string_view name) const = 0;
};

class __attribute__((visibility("default"))) SipRequest : public SipMessage {
 public:
  virtual Method method() const = 0;
  virtual std::string_view method_name() const = 0;
  virtual UriView request_uri() const = 0;
  virtual uint32_t max_forwards() const = 0;  // 70 when absent
  virtual std::vector<ViaView> vias() const = 0;
  // The Event header's package ("presence" of "presence;id=1"), empty when absent.
  virtual std::string_view event() const = 0;
  virtual std::string_view user_agent() const = 0;
  virtual SourceAddress source() const = 0;
};

class __attribute__((visibility("default"))) SipResponse : public SipMessage {
 public:
  virtual int status() const = 0;
  virtual std::string_view reason() const = 0;
  // True when no response came and the core made this one: 408 after timer F
  // (or B), 503 when the request could not be sent at all.
  virtual bool local() const = 0;
};

}  // namespace homesip
