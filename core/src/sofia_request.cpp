#include "sofia_request.hpp"

#include <arpa/inet.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_string.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "message_limits.hpp"
#include "response_encoder.hpp"

namespace homesip::core {
namespace {

std::string_view sv(const char* s) { return s ? std::string_view(s) : std::string_view(); }

}  // namespace

UriView uri_view(const url_t* url) {
  UriView v;
  if (!url) return v;
  v.scheme = sv(url->url_scheme);
  v.user = sv(url->url_user);
  v.host = sv(url->url_host);
  v.port = sv(url->url_port);
  v.params = sv(url->url_params);
  return v;
}

namespace {

std::string url_text(const url_t* url) {
  char buffer[512];
  const auto n = url_e(buffer, sizeof buffer, url);
  if (n >= 0 && static_cast<size_t>(n) < sizeof buffer) return std::string(buffer, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  url_e(big.data(), big.size(), url);
  big.resize(static_cast<size_t>(n));
  return big;
}

Method method_of(sip_method_t m) {
  switch (m) {
    case sip_method_invite:
      return Method::kInvite;
    case sip_method_ack:
      return Method::kAck;
    case sip_method_bye:
      return Method::kBye;
    case sip_method_cancel:
      return Method::kCancel;
    case sip_method_register:
      return Method::kRegister;
    case sip_method_options:
      return Method::kOptions;
    case sip_method_message:
      return Method::kMessage;
    case sip_method_subscribe:
      return Method::kSubscribe;
    case sip_method_notify:
      return Method::kNotify;
    case sip_method_publish:
      return Method::kPublish;
    case sip_method_info:
      return Method::kInfo;
    case sip_method_refer:
      return Method::kRefer;
    case sip_method_update:
      return Method::kUpdate;
    case sip_method_prack:
      return Method::kPrack;
    default:
      return Method::kUnknown;
  }
}

// The longest header name header() looks up; longer ones name nothing sofia knows.
constexpr size_t kMaxHeaderName = 64;

enum class HeaderName { kInvalid, kKnown, kUnknown };

// Finds header `name` (full or compact form, any case): kKnown with the first
// object of its class in `*first` (null when absent), kUnknown for a name
// sofia has no class for (its lines are in sip_unknown), kInvalid for a name
// that is no token.
HeaderName find_header(msg_t* msg, const sip_t* sip, std::string_view name, const msg_header_t** first) {
  if (!msg || !sip || name.empty() || name.size() > kMaxHeaderName) return HeaderName::kInvalid;
  for (char c : name)
    if (!is_token_char(c)) return HeaderName::kInvalid;
  // msg_find_hclass reads a NUL-terminated "Name:" as on the wire.
  char key[kMaxHeaderName + 2];
  std::memcpy(key, name.data(), name.size());
  key[name.size()] = ':';
  key[name.size() + 1] = '\0';
  const msg_mclass_t* mc = msg_mclass(msg);
  isize_t content = 0;
  const msg_href_t* href = msg_find_hclass(mc, key, &content);
  if (!href || href == mc->mc_error || content != static_cast<isize_t>(name.size() + 1))
    return HeaderName::kInvalid;
  if (href == mc->mc_unknown || !href->hr_class) return HeaderName::kUnknown;
  *first = *reinterpret_cast<msg_header_t* const*>(reinterpret_cast<const char*>(sip) + href->hr_offset);
  return HeaderName::kKnown;
}

// A header object that continues the line of the one before it ("Route: <a>,
// <b>" parses into two objects; the second has no raw text of its own).
bool continues_line(const msg_header_t* header) { return header->sh_data && header->sh_len == 0; }

// The value of the raw line sofia kept: after the colon and blanks, without
// the line end. nullopt when there is no raw line or it is folded over lines.
std::optional<std::string_view> raw_value(const msg_header_t* header) {
  const auto* raw = static_cast<const char*>(header->sh_data);
  if (!raw || header->sh_len == 0) return std::nullopt;
  std::string_view line(raw, header->sh_len);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  line.remove_prefix(colon + 1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() &&
         (line.back() == '\r' || line.back() == '\n' || line.back() == ' ' || line.back() == '\t'))
    line.remove_suffix(1);
  if (line.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  return line;
}

// The value encoded from sofia's parsed fields into the message's home, which
// frees it with the message: for a folded line or a header without raw text.
std::string_view encoded_value(msg_t* msg, const msg_header_t* header) {
  char buffer[1024];
  const issize_t n = msg_header_field_e(buffer, sizeof buffer, header, 0);
  if (n < 0) return {};
  const auto length = static_cast<size_t>(n);
  auto* copy = static_cast<char*>(su_alloc(msg_home(msg), static_cast<isize_t>(length + 1)));
  if (!copy) return {};
  if (length < sizeof buffer)
    std::memcpy(copy, buffer, length + 1);
  else
    msg_header_field_e(copy, static_cast<isize_t>(length + 1), header, 0);
  return {copy, length};
}

std::string_view value_of(msg_t* msg, const msg_header_t* header) {
  if (const auto raw = raw_value(header)) return *raw;
  return encoded_value(msg, header);
}

bool same_name(const char* a, std::string_view b) {
  return a && std::strlen(a) == b.size() && su_casenmatch(a, b.data(), b.size());
}

// ";tag=" of a From or To header.
std::string_view tag_of(const sip_addr_t* address) { return sv(address ? address->a_tag : nullptr); }

// "UDP" of "SIP/2.0/UDP".
std::string_view via_transport(const char* protocol) {
  const std::string_view text = sv(protocol);
  const size_t slash = text.rfind('/');
  return slash == std::string_view::npos ? text : text.substr(slash + 1);
}

}  // namespace

template <class Interface>
UriView SofiaMessage<Interface>::from_uri() const {
  return uri_view(sip_ && sip_->sip_from ? sip_->sip_from->a_url : nullptr);
}

template <class Interface>
UriView SofiaMessage<Interface>::to_uri() const {
  return uri_view(sip_ && sip_->sip_to ? sip_->sip_to->a_url : nullptr);
}

template <class Interface>
std::string_view SofiaMessage<Interface>::from_tag() const {
  return sip_ ? tag_of(sip_->sip_from) : std::string_view();
}

template <class Interface>
std::string_view SofiaMessage<Interface>::to_tag() const {
  return sip_ ? tag_of(sip_->sip_to) : std::string_view();
}

template <class Interface>
std::string_view SofiaMessage<Interface>::call_id() const {
  return sv(sip_ && sip_->sip_call_id ? sip_->sip_call_id->i_id : nullptr);
}

template <class Interface>
uint32_t SofiaMessage<Interface>::cseq() const {
  return sip_ && sip_->sip_cseq ? sip_->sip_cseq->cs_seq : 0;
}

template <class Interface>
std::optional<uint32_t> SofiaMessage<Interface>::expires_header() const {
  if (!sip_ || !sip_->sip_expires || expires_header_invalid()) return std::nullopt;
  return static_cast<uint32_t>(sip_->sip_expires->ex_delta);
}

template <class Interface>
bool SofiaMessage<Interface>::expires_header_invalid() const {
  // sofia parses a bad Expires as an error header and leaves sip_expires
  // unset; an HTTP-date Expires (RFC 2543) is also not accepted by RFC 3261.
  return sip_ && sip_->sip_expires && sip_->sip_expires->ex_date != 0;
}

template <class Interface>
std::vector<ContactView> SofiaMessage<Interface>::contacts() const {
  std::vector<ContactView> out;
  if (!sip_) return out;
  for (const sip_contact_t* m = sip_->sip_contact; m; m = m->m_next) {
    ContactView c;
    if (m->m_url->url_type == url_any) {
      c.wildcard = true;
      out.push_back(std::move(c));
      continue;
    }
    c.uri = url_text(m->m_url);
    if (m->m_expires) {
      c.expires = parse_delta_seconds(m->m_expires);
      c.expires_invalid = !c.expires.has_value();
    }
    if (m->m_q) c.q_millis = parse_qvalue(m->m_q);
    c.instance = sv(msg_params_find(m->m_params, "+sip.instance="));
    out.push_back(std::move(c));
  }
  return out;
}

template <class Interface>
std::string_view SofiaMessage<Interface>::content_type() const {
  return sv(sip_ && sip_->sip_content_type ? sip_->sip_content_type->c_type : nullptr);
}

template <class Interface>
std::string_view SofiaMessage<Interface>::body() const {
  if (!sip_ || !sip_->sip_payload) return {};
  return {sip_->sip_payload->pl_data, sip_->sip_payload->pl_len};
}

template <class Interface>
std::optional<std::string_view> SofiaMessage<Interface>::header(std::string_view name) const {
  const msg_header_t* first = nullptr;
  switch (find_header(msg_, sip_, name, &first)) {
    case HeaderName::kInvalid:
      return std::nullopt;
    case HeaderName::kKnown:
      if (!first) return std::nullopt;
      return value_of(msg_, first);
    case HeaderName::kUnknown:
      for (const sip_unknown_t* u = sip_->sip_unknown; u; u = u->un_next)
        if (same_name(u->un_name, name)) return sv(u->un_value);
      return std::nullopt;
  }
  return std::nullopt;
}

template <class Interface>
std::vector<std::string_view> SofiaMessage<Interface>::headers(std::string_view name) const {
  std::vector<std::string_view> values;
  const msg_header_t* first = nullptr;
  switch (find_header(msg_, sip_, name, &first)) {
    case HeaderName::kInvalid:
      break;
    case HeaderName::kKnown:
      for (const msg_header_t* h = first; h; h = h->sh_next)
        if (!continues_line(h)) values.push_back(value_of(msg_, h));
      break;
    case HeaderName::kUnknown:
      for (const sip_unknown_t* u = sip_->sip_unknown; u; u = u->un_next)
        if (same_name(u->un_name, name)) values.push_back(sv(u->un_value));
      break;
  }
  return values;
}

template class SofiaMessage<SipRequest>;
template class SofiaMessage<SipResponse>;

Method SofiaRequest::method() const { return method_of(sip_->sip_request->rq_method); }

std::string_view SofiaRequest::method_name() const { return sv(sip_->sip_request->rq_method_name); }

UriView SofiaRequest::request_uri() const { return uri_view(sip_->sip_request->rq_url); }

uint32_t SofiaRequest::max_forwards() const {
  return sip_->sip_max_forwards ? static_cast<uint32_t>(sip_->sip_max_forwards->mf_count) : 70;
}

std::vector<ViaView> SofiaRequest::vias() const {
  std::vector<ViaView> out;
  for (const sip_via_t* via = sip_->sip_via; via; via = via->v_next) {
    ViaView v;
    v.transport = via_transport(via->v_protocol);
    v.host = sv(via->v_host);
    v.port = sv(via->v_port);
    v.branch = sv(via->v_branch);
    v.received = sv(via->v_received);
    v.rport = sv(via->v_rport);
    out.push_back(v);
  }
  return out;
}

std::string_view SofiaRequest::event() const {
  return sv(sip_->sip_event ? sip_->sip_event->o_type : nullptr);
}

SourceAddress SofiaRequest::source() const {
  SourceAddress src;
  su_sockaddr_t addr{};
  socklen_t len = sizeof addr;
  if (msg_get_address(msg_, &addr, &len) == 0) {
    char text[46];
    src.ip = address_text(addr, text);
    src.port = ntohs(addr.su_port);
  }
  src.transport = transport_;
  return src;
}

std::vector<std::string> SofiaRequest::peer_certificate_names() const {
  if (!certificate_names_) return {};
  return *certificate_names_;
}

std::string_view SofiaRequest::user_agent() const {
  return sv(sip_->sip_user_agent ? sip_->sip_user_agent->g_string : nullptr);
}

int SofiaResponse::status() const { return sip_ && sip_->sip_status ? sip_->sip_status->st_status : 0; }

std::string_view SofiaResponse::reason() const {
  return sv(sip_ && sip_->sip_status ? sip_->sip_status->st_phrase : nullptr);
}

}  // namespace homesip::core
