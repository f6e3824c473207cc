#include "sofia_request.hpp"

#include <arpa/inet.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_string.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "response_encoder.hpp"

namespace homesip::core {
namespace {

std::string_view sv(const char* s) { return s ? std::string_view(s) : std::string_view(); }

UriView view_of(const url_t* url) {
  UriView v;
  if (!url) return v;
  v.scheme = sv(url->url_scheme);
  v.user = sv(url->url_user);
  v.host = sv(url->url_host);
  v.port = sv(url->url_port);
  v.params = sv(url->url_params);
  return v;
}

std::optional<uint32_t> parse_u32(std::string_view text) {
  uint32_t v = 0;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) return UINT32_MAX;
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// "0.5" -> 500, "1" -> 1000; nullopt when not a valid qvalue (RFC 3261 25.1).
std::optional<uint16_t> parse_q(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  unsigned whole = static_cast<unsigned>(text[0] - '0');
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

}  // namespace

Method SofiaRequest::method() const { return method_of(sip_->sip_request->rq_method); }

std::string_view SofiaRequest::method_name() const { return sv(sip_->sip_request->rq_method_name); }

UriView SofiaRequest::request_uri() const { return view_of(sip_->sip_request->rq_url); }

UriView SofiaRequest::from_uri() const { return view_of(sip_->sip_from ? sip_->sip_from->a_url : nullptr); }

UriView SofiaRequest::to_uri() const { return view_of(sip_->sip_to ? sip_->sip_to->a_url : nullptr); }

std::string_view SofiaRequest::call_id() const {
  return sv(sip_->sip_call_id ? sip_->sip_call_id->i_id : nullptr);
}

uint32_t SofiaRequest::cseq() const { return sip_->sip_cseq ? sip_->sip_cseq->cs_seq : 0; }

std::optional<uint32_t> SofiaRequest::expires_header() const {
  if (!sip_->sip_expires || expires_header_invalid()) return std::nullopt;
  return static_cast<uint32_t>(sip_->sip_expires->ex_delta);
}

bool SofiaRequest::expires_header_invalid() const {
  // sofia parses a bad Expires as an error header and leaves sip_expires
  // unset; an HTTP-date Expires (RFC 2543) is also not accepted by RFC 3261.
  return sip_->sip_expires && sip_->sip_expires->ex_date != 0;
}

uint32_t SofiaRequest::max_forwards() const {
  return sip_->sip_max_forwards ? static_cast<uint32_t>(sip_->sip_max_forwards->mf_count) : 70;
}

std::vector<ContactView> SofiaRequest::contacts() const {
  std::vector<ContactView> out;
  for (const sip_contact_t* m = sip_->sip_contact; m; m = m->m_next) {
    ContactView c;
    if (m->m_url->url_type == url_any) {
      c.wildcard = true;
      out.push_back(std::move(c));
      continue;
    }
    c.uri = url_text(m->m_url);
    if (m->m_expires) {
      c.expires = parse_u32(m->m_expires);
      c.expires_invalid = !c.expires.has_value();
    }
    if (m->m_q) c.q_millis = parse_q(m->m_q);
    c.instance = sv(msg_params_find(m->m_params, "+sip.instance="));
    out.push_back(std::move(c));
  }
  return out;
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

std::string_view SofiaRequest::user_agent() const {
  return sv(sip_->sip_user_agent ? sip_->sip_user_agent->g_string : nullptr);
}

std::string_view SofiaRequest::content_type() const {
  return sv(sip_->sip_content_type ? sip_->sip_content_type->c_type : nullptr);
}

std::string_view SofiaRequest::body() const {
  if (!sip_->sip_payload) return {};
  return {sip_->sip_payload->pl_data, sip_->sip_payload->pl_len};
}

std::optional<std::string> SofiaRequest::header(std::string_view name) const {
  const std::string key(name);
  const msg_mclass_t* mc = msg_mclass(msg_);
  const msg_href_t* href = msg_find_hclass(mc, key.c_str(), nullptr);
  if (href && href != mc->mc_unknown) {
    auto* slot =
        reinterpret_cast<msg_header_t* const*>(reinterpret_cast<const char*>(sip_) + href->hr_offset);
    if (!*slot) return std::nullopt;
    char buffer[1024];
    const auto n = msg_header_field_e(buffer, sizeof buffer, *slot, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1));
  }
  for (const sip_unknown_t* u = sip_->sip_unknown; u; u = u->un_next)
    if (su_casematch(u->un_name, key.c_str())) return std::string(sv(u->un_value));
  return std::nullopt;
}

}  // namespace homesip::core
