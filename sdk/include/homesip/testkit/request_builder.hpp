// The test kit's SIP messages: a request or response that owns its text and
// answers the SDK's views the way the core does (every line of a header,
// case-insensitive names, compact forms, Contact values with expires, q and
// +sip.instance, Via values, tags). Build them fluently:
//
//   auto request = RequestBuilder()
//                      .method(Method::kRegister)
//                      .uri("sip:C1.D1.H1")
//                      .from("sip:u1@C1.D1.H1", "f1")
//                      .to("sip:u1@C1.D1.H1")
//                      .contact("<sip:u1@192.0.2.7:5060>;expires=600")
//                      .build();
//
// Header-only; part of the installed SDK (target homesip::sdk_testkit).
#pragma once

#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "homesip/request.hpp"
#include "homesip/uri.hpp"

namespace homesip::testkit {

namespace detail {

inline std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The full name of a compact header form (RFC 3261 7.3.3 and later RFCs).
inline std::string_view full_header_name(std::string_view name) {
  if (name.size() != 1) return name;
  switch (name[0] | 0x20) {
    case 'i':
      return "Call-ID";
    case 'm':
      return "Contact";
    case 'e':
      return "Content-Encoding";
    case 'l':
      return "Content-Length";
    case 'c':
      return "Content-Type";
    case 'f':
      return "From";
    case 's':
      return "Subject";
    case 'k':
      return "Supported";
    case 't':
      return "To";
    case 'v':
      return "Via";
    case 'o':
      return "Event";
    case 'u':
      return "Allow-Events";
    case 'r':
      return "Refer-To";
    case 'b':
      return "Referred-By";
    case 'x':
      return "Session-Expires";
    default:
      return name;
  }
}

inline bool same_header(std::string_view a, std::string_view b) {
  return uri_detail::iequals(full_header_name(a), full_header_name(b));
}

// Splits a header value at commas outside quotes and angle brackets.
inline std::vector<std::string_view> split_values(std::string_view value) {
  std::vector<std::string_view> out;
  bool quoted = false;
  int angle = 0;
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '"' && (i == 0 || value[i - 1] != '\\')) quoted = !quoted;
    if (quoted) continue;
    if (c == '<') ++angle;
    if (c == '>' && angle > 0) --angle;
    if (c == ',' && angle == 0) {
      out.push_back(trim(value.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (const auto last = trim(value.substr(start)); !last.empty()) out.push_back(last);
  return out;
}

// The header parameters of a name-addr or addr-spec value ("<uri>;tag=x" -> "tag=x").
inline std::string_view header_params(std::string_view value) {
  size_t from = 0;
  if (const size_t close = value.find('>'); close != std::string_view::npos) from = close + 1;
  const size_t semi = value.find(';', from);
  return semi == std::string_view::npos ? std::string_view() : trim(value.substr(semi + 1));
}

// The URI of a name-addr or addr-spec value, without header parameters.
inline std::string_view uri_text(std::string_view value) {
  if (const size_t open = value.find('<'); open != std::string_view::npos) {
    const size_t close = value.find('>', open);
    return value.substr(open + 1,
                        close == std::string_view::npos ? std::string_view::npos : close - open - 1);
  }
  return trim(value.substr(0, value.find(';')));
}

inline Method method_of(std::string_view name) {
  static constexpr std::pair<std::string_view, Method> kMethods[] = {
      {"INVITE", Method::kInvite},     {"ACK", Method::kAck},
      {"BYE", Method::kBye},           {"CANCEL", Method::kCancel},
      {"REGISTER", Method::kRegister}, {"OPTIONS", Method::kOptions},
      {"MESSAGE", Method::kMessage},   {"SUBSCRIBE", Method::kSubscribe},
      {"NOTIFY", Method::kNotify},     {"PUBLISH", Method::kPublish},
      {"INFO", Method::kInfo},         {"REFER", Method::kRefer},
      {"UPDATE", Method::kUpdate},     {"PRACK", Method::kPrack}};
  for (const auto& [text, method] : kMethods)
    if (text == name) return method;
  return Method::kUnknown;
}

inline std::string_view method_name(Method method) {
  switch (method) {
    case Method::kInvite:
      return "INVITE";
    case Method::kAck:
      return "ACK";
    case Method::kBye:
      return "BYE";
    case Method::kCancel:
      return "CANCEL";
    case Method::kRegister:
      return "REGISTER";
    case Method::kOptions:
      return "OPTIONS";
    case Method::kMessage:
      return "MESSAGE";
    case Method::kSubscribe:
      return "SUBSCRIBE";
    case Method::kNotify:
      return "NOTIFY";
    case Method::kPublish:
      return "PUBLISH";
    case Method::kInfo:
      return "INFO";
    case Method::kRefer:
      return "REFER";
    case Method::kUpdate:
      return "UPDATE";
    case Method::kPrack:
      return "PRACK";
    default:
      return "UNKNOWN";
  }
}

using HeaderLines = std::vector<std::pair<std::string, std::string>>;

// The SipMessage part both fakes share: every view is computed from the
// header lines the message owns, so it points into text that lives as long
// as the message (which is never changed after it is built).
template <class Base>
class FakeMessage : public Base {
 public:
  UriView from_uri() const override { return uri_of("From"); }
  UriView to_uri() const override { return uri_of("To"); }
  std::string_view from_tag() const override { return tag_of("From"); }
  std::string_view to_tag() const override { return tag_of("To"); }
  std::string_view call_id() const override { return trim(this->header("Call-ID").value_or("")); }
  uint32_t cseq() const override {
    const std::string_view text = trim(this->header("CSeq").value_or(""));
    return parse_delta_seconds(trim(text.substr(0, text.find(' ')))).value_or(0);
  }
  std::optional<uint32_t> expires_header() const override {
    const auto text = this->header("Expires");
    return text ? parse_delta_seconds(trim(*text)) : std::nullopt;
  }
  bool expires_header_invalid() const override {
    const auto text = this->header("Expires");
    return text && !parse_delta_seconds(trim(*text));
  }
  std::vector<ContactView> contacts() const override {
    std::vector<ContactView> out;
    for (std::string_view line : this->headers("Contact"))
      for (std::string_view value : split_values(line)) out.push_back(contact_of(value));
    return out;
  }
  std::string_view content_type() const override { return trim(this->header("Content-Type").value_or("")); }
  std::string_view body() const override { return body_; }
  std::optional<std::string_view> header(std::string_view name) const override {
    for (const auto& [n, v] : lines_)
      if (same_header(n, name)) return std::string_view(v);
    return std::nullopt;
  }
  std::vector<std::string_view> headers(std::string_view name) const override {
    std::vector<std::string_view> out;
    for (const auto& [n, v] : lines_)
      if (same_header(n, name)) out.emplace_back(v);
    return out;
  }

  // Every header line as built, in order.
  const HeaderLines& header_lines() const { return lines_; }

 protected:
  FakeMessage(HeaderLines lines, std::string body) : lines_(std::move(lines)), body_(std::move(body)) {}

 private:
  UriView uri_of(std::string_view name) const {
    const auto value = this->header(name);
    if (!value) return {};
    return parse_uri(uri_text(*value)).value_or(UriView{});
  }
  std::string_view tag_of(std::string_view name) const {
    const auto value = this->header(name);
    if (!value) return {};
    return uri_param(header_params(*value), "tag").value_or("");
  }
  static ContactView contact_of(std::string_view value) {
    ContactView contact;
    if (value == "*") {
      contact.wildcard = true;
      return contact;
    }
    contact.uri = std::string(uri_text(value));
    const std::string_view params = header_params(value);
    if (const auto expires = uri_param(params, "expires")) {
      contact.expires = parse_delta_seconds(trim(*expires));
      contact.expires_invalid = !contact.expires.has_value();
    }
    if (const auto q = uri_param(params, "q")) contact.q_millis = parse_qvalue(*q);
    contact.instance = uri_param(params, "+sip.instance").value_or("");
    return contact;
  }

  HeaderLines lines_;
  std::string body_;
};

}  // namespace detail

// A request that owns its text. Never changed once built (views stay valid).
class FakeRequest final : public detail::FakeMessage<SipRequest> {
 public:
  FakeRequest(std::string method, std::string request_uri, detail::HeaderLines lines, std::string body,
              std::string source_transport, std::string source_ip, uint16_t source_port,
              bool routed_here = false)
      : FakeMessage(std::move(lines), std::move(body)),
        method_(std::move(method)),
        request_uri_(std::move(request_uri)),
        transport_(std::move(source_transport)),
        source_ip_(std::move(source_ip)),
        source_port_(source_port),
        routed_here_(routed_here) {}

  Method method() const override { return detail::method_of(method_); }
  std::string_view method_name() const override { return method_; }
  UriView request_uri() const override { return parse_uri(request_uri_).value_or(UriView{}); }
  uint32_t max_forwards() const override {
    const auto text = header("Max-Forwards");
    return text ? parse_delta_seconds(detail::trim(*text)).value_or(0) : 70;
  }
  std::vector<ViaView> vias() const override {
    std::vector<ViaView> out;
    for (std::string_view line : headers("Via"))
      for (std::string_view value : detail::split_values(line)) out.push_back(via_of(value));
    return out;
  }
  std::string_view event() const override {
    const std::string_view text = header("Event").value_or("");
    return detail::trim(text.substr(0, text.find(';')));
  }
  std::string_view user_agent() const override { return detail::trim(header("User-Agent").value_or("")); }
  SourceAddress source() const override { return SourceAddress{transport_, source_ip_, source_port_}; }
  bool routed_here() const override { return routed_here_; }
  std::vector<std::string> peer_certificate_names() const override { return peer_certificate_names_; }
  std::string flow() const override { return flow_; }
  void set_flow(std::string flow) { flow_ = std::move(flow); }
  // As the core would (SDK 3.1): only a request over TLS has them.
  void set_peer_certificate_names(std::vector<std::string> names) {
    peer_certificate_names_ = std::move(names);
  }

  // The Request-URI as text.
  const std::string& request_uri_text() const { return request_uri_; }

 private:
  // "SIP/2.0/UDP host:port;branch=z9hG4bK1;rport"
  static ViaView via_of(std::string_view value) {
    ViaView via;
    const size_t space = value.find_first_of(" \t");
    const std::string_view protocol = value.substr(0, space);
    via.transport = protocol.substr(protocol.rfind('/') + 1);
    std::string_view rest =
        space == std::string_view::npos ? std::string_view() : detail::trim(value.substr(space));
    const size_t semi = rest.find(';');
    std::string_view sent_by = detail::trim(rest.substr(0, semi));
    const std::string_view params =
        semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    const size_t colon = sent_by.rfind(':');
    if (colon != std::string_view::npos && sent_by.find(']', colon) == std::string_view::npos) {
      via.port = sent_by.substr(colon + 1);
      sent_by = sent_by.substr(0, colon);
    }
    via.host = sent_by;
    via.branch = uri_param(params, "branch").value_or("");
    via.received = uri_param(params, "received").value_or("");
    via.rport = uri_param(params, "rport").value_or("");
    return via;
  }

  std::string method_;
  std::string request_uri_;
  std::string transport_;
  std::string source_ip_;
  uint16_t source_port_;
  bool routed_here_;
  std::vector<std::string> peer_certificate_names_;
  std::string flow_;
};

// A response that owns its text (what a FakeClient answers with).
class FakeResponse final : public detail::FakeMessage<SipResponse> {
 public:
  FakeResponse(int status, std::string reason, bool local, detail::HeaderLines lines, std::string body)
      : FakeMessage(std::move(lines), std::move(body)),
        status_(status),
        reason_(std::move(reason)),
        local_(local) {}
  int status() const override { return status_; }
  std::string_view reason() const override { return reason_; }
  bool local() const override { return local_; }

 private:
  int status_;
  std::string reason_;
  bool local_;
};

// Builds a FakeRequest. Every setter replaces the header it names (except
// contact(), via() and add_header(), which add a line); defaults make a valid
// OPTIONS from alice@example.test over UDP from 192.0.2.7:5060.
class RequestBuilder {
 public:
  RequestBuilder& method(Method m) { return method(std::string(detail::method_name(m))); }
  RequestBuilder& method(std::string name) {
    method_ = std::move(name);
    return *this;
  }
  RequestBuilder& uri(std::string request_uri) {
    uri_ = std::move(request_uri);
    return *this;
  }
  // From: <uri>;tag=tag (no tag parameter when `tag` is empty).
  RequestBuilder& from(const std::string& from_uri, const std::string& tag = "from-tag-1") {
    return header("From", name_addr(from_uri, tag));
  }
  RequestBuilder& to(const std::string& to_uri, const std::string& tag = "") {
    return header("To", name_addr(to_uri, tag));
  }
  RequestBuilder& call_id(std::string id) { return header("Call-ID", std::move(id)); }
  // CSeq: N METHOD (the method at build() time).
  RequestBuilder& cseq(uint32_t number) {
    cseq_ = number;
    return *this;
  }
  // One Contact value as written: "<sip:u@192.0.2.7>;expires=60;q=0.5", or "*".
  RequestBuilder& contact(std::string value) { return add_header("Contact", std::move(value)); }
  RequestBuilder& expires(uint32_t seconds) { return header("Expires", std::to_string(seconds)); }
  RequestBuilder& max_forwards(uint32_t hops) { return header("Max-Forwards", std::to_string(hops)); }
  // One Via line, top first: "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-1". The
  // first via() replaces the default one.
  RequestBuilder& via(std::string value) {
    if (!own_via_) remove("Via");
    own_via_ = true;
    return add_header("Via", std::move(value));
  }
  RequestBuilder& event(std::string value) { return header("Event", std::move(value)); }
  RequestBuilder& user_agent(std::string value) { return header("User-Agent", std::move(value)); }
  // Replaces every line of `name` (any spelling, compact forms included) with one.
  RequestBuilder& header(std::string name, std::string value) {
    remove(name);
    return add_header(std::move(name), std::move(value));
  }
  // Adds one more line, written as given (so "m" stays a compact Contact).
  RequestBuilder& add_header(std::string name, std::string value) {
    lines_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  RequestBuilder& remove(std::string_view name) {
    std::erase_if(lines_, [&](const auto& line) { return detail::same_header(line.first, name); });
    return *this;
  }
  RequestBuilder& body(std::string content_type, std::string content) {
    header("Content-Type", std::move(content_type));
    body_ = std::move(content);
    return *this;
  }
  // transport: "udp", "tcp" or "tls".
  RequestBuilder& source(std::string transport, std::string ip, uint16_t port) {
    transport_ = std::move(transport);
    ip_ = std::move(ip);
    port_ = port;
    return *this;
  }

  // As if the request came with a Route naming this server, which the core
  // took off (SipRequest::routed_here()): a phone using it as outbound proxy.
  RequestBuilder& routed_here(bool routed = true) {
    routed_here_ = routed;
    return *this;
  }
  // The names of a verified client certificate (SipRequest::peer_certificate_names(),
  // SDK 3.1), e.g. {"sip:H1@C1.D1", "127.0.0.1"}; the core gives them only over
  // TLS, so give the request source("tls", ...) too.
  RequestBuilder& peer_certificate_names(std::vector<std::string> names) {
    peer_certificate_names_ = std::move(names);
    return *this;
  }
  // As if the request followed this server's Record-Route towards a phone's
  // flow (SipRequest::flow(), SDK 3.3): "tls:192.0.2.7:40112". Give it
  // routed_here() too, as the core does.
  RequestBuilder& flow(std::string source) {
    flow_ = std::move(source);
    return *this;
  }
  // A REGISTER of `aor` ("u1@C1.D1.H1") to its domain, From = To = the AOR.
  static RequestBuilder registration(const std::string& aor) {
    const size_t at = aor.rfind('@');
    RequestBuilder builder;
    builder.method(Method::kRegister)
        .uri("sip:" + (at == std::string::npos ? aor : aor.substr(at + 1)))
        .from("sip:" + aor)
        .to("sip:" + aor);
    return builder;
  }

  std::unique_ptr<FakeRequest> build() const {
    detail::HeaderLines lines = lines_;
    std::erase_if(lines, [](const auto& line) { return detail::same_header(line.first, "CSeq"); });
    lines.emplace_back("CSeq", std::to_string(cseq_) + " " + method_);
    if (!body_.empty()) lines.emplace_back("Content-Length", std::to_string(body_.size()));
    auto request = std::make_unique<FakeRequest>(method_, uri_, std::move(lines), body_, transport_, ip_,
                                                 port_, routed_here_);
    request->set_peer_certificate_names(peer_certificate_names_);
    request->set_flow(flow_);
    return request;
  }

 private:
  static std::string name_addr(const std::string& uri, const std::string& tag) {
    return "<" + uri + ">" + (tag.empty() ? "" : ";tag=" + tag);
  }

  std::string method_ = "OPTIONS";
  std::string uri_ = "sip:example.test";
  uint32_t cseq_ = 1;
  bool own_via_ = false;
  detail::HeaderLines lines_{{"Via", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-testkit-1;rport"},
                             {"From", "<sip:alice@example.test>;tag=from-tag-1"},
                             {"To", "<sip:alice@example.test>"},
                             {"Call-ID", "testkit-call-1@192.0.2.7"}};
  std::string body_;
  std::string transport_ = "udp";
  std::string ip_ = "192.0.2.7";
  uint16_t port_ = 5060;
  bool routed_here_ = false;
  std::vector<std::string> peer_certificate_names_;
  std::string flow_;
};

// Builds a FakeResponse: a status, and whatever headers a test needs.
class ResponseBuilder {
 public:
  explicit ResponseBuilder(int status = 200, std::string reason = "")
      : status_(status), reason_(std::move(reason)) {}
  ResponseBuilder& status(int code, std::string reason = "") {
    status_ = code;
    reason_ = std::move(reason);
    return *this;
  }
  // True for a response the core made itself (408 after timer F, 503 unsendable).
  ResponseBuilder& local(bool made_locally = true) {
    local_ = made_locally;
    return *this;
  }
  ResponseBuilder& header(std::string name, std::string value) {
    lines_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  ResponseBuilder& contact(std::string value) { return header("Contact", std::move(value)); }
  ResponseBuilder& body(std::string content_type, std::string content) {
    header("Content-Type", std::move(content_type));
    body_ = std::move(content);
    return *this;
  }
  std::unique_ptr<FakeResponse> build() const {
    return std::make_unique<FakeResponse>(status_, reason_, local_, lines_, body_);
  }

 private:
  int status_;
  std::string reason_;
  bool local_ = false;
  detail::HeaderLines lines_;
  std::string body_;
};

}  // namespace homesip::testkit
