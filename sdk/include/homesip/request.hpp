// Read-only views of SIP messages: the request a handler is given and the
// response a client transaction receives. Every string_view points into the
// core's parsed message and is valid while the message is (for a request:
// while the chain runs, or until a SuspendedRequest is answered or
// destroyed; for a response: during the ResponseDone call).
#pragma once

#include <charconv>
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

// How the core reads numbers in headers, shared with the test kit so both
// read a request alike. Delta-seconds (Expires, ;expires=): leading spaces
// allowed, a value past 2^32-1 reads as 2^32-1 (RFC 3261 20.19 lets a
// server cap it), anything else that is not all digits is nullopt.
inline std::optional<uint32_t> parse_delta_seconds(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  uint32_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return UINT32_MAX;
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// A qvalue in thousandths: "0.5" -> 500, "1" -> 1000; nullopt when not a
// valid qvalue (RFC 3261 25.1: 0 to 1 with at most three decimals).
inline std::optional<uint16_t> parse_qvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  const unsigned whole = static_cast<unsigned>(text[0] - '0');
  unsigned millis = 0, digits = 0;
  if (text.size() > 1) {
    if (text[1] != '.' || text.size() > 5) return std::nullopt;
    for (size_t i = 2; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      millis = millis * 10 + static_cast<unsigned>(text[i] - '0');
      ++digits;
    }
    while (digits++ < 3) millis *= 10;
  }
  const unsigned q = whole * 1000 + millis;
  if (q > 1000) return std::nullopt;
  return static_cast<uint16_t>(q);
}

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
  std::string_view port;      // empty when absent
  std::string_view branch;    // empty when absent
  std::string_view received;  // empty when absent
  std::string_view rport;     // "" when absent or without a value
};

// Where the request came from on the wire.
struct SourceAddress {
  std::string_view transport;  // "udp", "tcp", "tls"
  std::string ip;
  uint16_t port = 0;
  // "udp:192.0.2.7:5060", "tcp:[2001:db8::1]:5060": how the registrar keeps
  // a binding's source and how logs name a sender.
  std::string text() const {
    std::string out(transport);
    out += ':';
    out += ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    out += ':';
    out += std::to_string(port);
    return out;
  }
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
  // True when the request's top Route named this server (a phone's outbound
  // proxy, RFC 3261 16.4): the sender asks this server to send it on. The core
  // takes that Route entry off before the chain runs.
  virtual bool routed_here() const = 0;
  // SDK 3.1. The names of the client certificate the core verified against
  // its cafile.pem on the TLS connection this request came in on: SAN URIs
  // ("sip:H1@C1.D1"), DNS names and IP addresses, in that order, or the CN
  // when the certificate has no SAN. Empty over UDP and TCP, and over TLS
  // when the client presented no certificate.
  virtual std::vector<std::string> peer_certificate_names() const { return {}; }
  // SDK 3.3. The flow this request is bound for: the source ("tls:IP:PORT",
  // "tcp:IP:PORT") of a phone's connection to this server, when the request
  // follows a Record-Route this server put on a dialog with that phone
  // (RFC 5626 flows, RFC 5658 double Record-Route) and comes from the other
  // side. The core sends it on that connection when a handler forwards it
  // (430 Flow Failed when the connection is gone). Empty otherwise. The core
  // checks the token it wrote there, sealed for that dialog's Call-ID and
  // honoured only with a To-tag: nobody can name another client's connection.
  virtual std::string flow() const { return {}; }
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
