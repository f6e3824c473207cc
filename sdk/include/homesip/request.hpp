// A read-only view of one incoming SIP request. Views point into the core's
// parsed message: valid while the request is being handled or, after
// IncomingRequest::defer(), until the DeferredReply is sent or destroyed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The parts of a SIP URI a server decides on.
struct UriView {
  std::string_view scheme;  // "sip" or "sips"
  std::string_view user;    // empty when absent
  std::string_view host;
  std::string_view port;    // empty when absent
  std::string_view params;  // "transport=tcp;lr" without the leading ';', or empty
  bool empty() const { return host.empty(); }
};

// One Contact header value of a REGISTER (or of any request).
struct ContactView {
  bool wildcard = false;             // "Contact: *"
  std::string uri;                   // the URI as text, e.g. "sip:u1@10.0.0.7:5060"
  std::optional<uint32_t> expires;   // the ;expires= parameter, when valid
  bool expires_invalid = false;      // ;expires= present but not a number
  std::optional<uint16_t> q_millis;  // ;q=0.5 -> 500, when present and valid
  std::string_view instance;         // +sip.instance parameter value, or empty
};

// Where the request came from on the wire (after rport/received handling).
struct SourceAddress {
  std::string_view transport;  // "udp", "tcp", "tls"
  std::string ip;
  uint16_t port = 0;
};

class __attribute__((visibility("default"))) SipRequest {
 public:
  virtual ~SipRequest() = default;

  virtual Method method() const = 0;
  virtual std::string_view method_name() const = 0;
  virtual UriView request_uri() const = 0;
  virtual UriView from_uri() const = 0;
  virtual UriView to_uri() const = 0;
  virtual std::string_view call_id() const = 0;
  virtual uint32_t cseq() const = 0;
  virtual std::optional<uint32_t> expires_header() const = 0;  // Expires: header
  virtual bool expires_header_invalid() const = 0;
  virtual uint32_t max_forwards() const = 0;  // 70 when absent
  virtual std::vector<ContactView> contacts() const = 0;
  virtual SourceAddress source() const = 0;
  virtual std::string_view user_agent() const = 0;
  virtual std::string_view content_type() const = 0;
  virtual std::string_view body() const = 0;
  // Any header by name (case-insensitive), the first one; nullopt when absent.
  virtual std::optional<std::string> header(std::string_view name) const = 0;
};

// "user@host" of a URI: the address-of-record a registrar keys bindings on.
inline std::string aor_of(const UriView& uri) {
  std::string aor;
  aor.reserve(uri.user.size() + 1 + uri.host.size());
  aor.append(uri.user);
  if (!uri.user.empty()) aor.push_back('@');
  aor.append(uri.host);
  return aor;
}

}  // namespace homesip
