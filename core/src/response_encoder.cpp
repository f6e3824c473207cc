#include "response_encoder.hpp"

#include <arpa/inet.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_string.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "message_limits.hpp"

namespace homesip::core {
namespace {

std::string_view sv(const char* text) { return text ? std::string_view(text) : std::string_view(); }

void append_number(std::string& out, uint64_t value) {
  char digits[20];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

// A plugin's text in a header or the status line: CR and LF would end the
// line early and let the text forge headers of its own.
void append_field(std::string& out, std::string_view text) {
  if (text.empty()) return;  // data() may be null, which memchr must not get
  // memchr, not string_view::find_first_of, which makes a call per byte.
  const auto has = [text](char c) { return std::memchr(text.data(), c, text.size()) != nullptr; };
  if (!has('\r') && !has('\n')) {
    out += text;
    return;
  }
  for (char c : text) out += (c == '\r' || c == '\n') ? ' ' : c;
}

// The header's line without its line end: its raw bytes when sofia parsed it
// whole (one header per line), else encoded from the parsed fields.
void append_header_line(std::string& out, const msg_header_t* header) {
  const auto* raw = static_cast<const char*>(header->sh_data);
  size_t length = raw ? header->sh_len : 0;
  if (length > 0) {
    while (length > 0 && (raw[length - 1] == '\n' || raw[length - 1] == '\r')) --length;
    out.append(raw, length);
    return;
  }
  out += header->sh_class->hc_name;
  out += ": ";
  char buffer[1024];
  const auto n = msg_header_field_e(buffer, sizeof buffer, header, 0);
  if (n > 0) out.append(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1));
}

bool param_named(const char* param, std::string_view name) {
  return su_casenmatch(param, name.data(), name.size()) &&
         (param[name.size()] == '\0' || param[name.size()] == '=');
}

std::string_view without_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && su_casenmatch(a.data(), b.data(), a.size());
}

// The top Via gets received= when its host is not the source IP and rport=
// with the source port when the client asked for it (RFC 3581); a client's
// own received or rport value is replaced.
void append_via(std::string& out, const sip_via_t* via, const su_sockaddr_t* source) {
  out += "Via: ";
  out += sv(via->v_protocol);
  out += ' ';
  out += sv(via->v_host);
  if (via->v_port) {
    out += ':';
    out += via->v_port;
  }
  for (const msg_param_t* p = via->v_params; p && *p; ++p) {
    if (source && (param_named(*p, "received") || param_named(*p, "rport"))) continue;
    out += ';';
    out += *p;
  }
  if (source) {
    char buffer[46];
    const std::string_view ip = address_text(*source, buffer);
    if (!equal_ignoring_case(without_brackets(sv(via->v_host)), ip)) {
      out += ";received=";
      out += ip;
    }
    if (via->v_rport) {
      out += ";rport=";
      append_number(out, ntohs(source->su_port));
    }
  }
  if (via->v_comment) {
    out += " (";
    out += via->v_comment;
    out += ')';
  }
  out += "\r\n";
}

// A plugin's To-tag: only token characters (RFC 3261 25.1) reach the wire,
// so no text of its own can end the To line or add parameters.
void append_tag(std::string& out, std::string_view tag) {
  out += ";tag=";
  // Whole when clean (the core's own tags always are), else char by char.
  if (std::all_of(tag.begin(), tag.end(), is_token_char)) {
    out += tag;
    return;
  }
  for (char c : tag)
    if (is_token_char(c)) out += c;
}

void append_q(std::string& out, uint16_t q) {
  out += q >= 1000 ? "1" : "0.";
  if (q >= 1000) return;
  char digits[3] = {static_cast<char>('0' + q / 100), static_cast<char>('0' + q / 10 % 10),
                    static_cast<char>('0' + q % 10)};
  size_t n = 3;
  while (n > 1 && digits[n - 1] == '0') --n;
  out.append(digits, n);
}

}  // namespace

std::string_view response_to_tag(const sip_t& request, char (&buffer)[kToTagBufferSize]) {
  if (request.sip_to && request.sip_to->a_tag) return request.sip_to->a_tag;
  // FNV-1a over Call-ID and From tag: stable for a request and its
  // retransmissions, different between dialogs.
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](const char* text) {
    for (; text && *text; ++text) hash = (hash ^ static_cast<unsigned char>(*text)) * 0x100000001b3ULL;
    hash = (hash ^ 0xff) * 0x100000001b3ULL;
  };
  mix(request.sip_call_id ? request.sip_call_id->i_id : nullptr);
  mix(request.sip_from ? request.sip_from->a_tag : nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) buffer[i] = kHex[(hash >> (60 - 4 * i)) & 0xf];
  buffer[16] = '\0';
  return {buffer, 16};
}

std::string_view address_text(const su_sockaddr_t& address, char (&buffer)[46]) {
  if (address.su_family == AF_INET6) {
    if (!inet_ntop(AF_INET6, &address.su_sin6.sin6_addr, buffer, sizeof buffer)) return {};
    return buffer;
  }
  // inet_ntop formats through sprintf, a noticeable share of a REGISTER's work.
  const auto* octets = reinterpret_cast<const unsigned char*>(&address.su_sin.sin_addr.s_addr);
  char* end = buffer;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) *end++ = '.';
    end = std::to_chars(end, buffer + sizeof buffer, octets[i]).ptr;
  }
  return {buffer, static_cast<size_t>(end - buffer)};
}

void append_contact_value(std::string& out, const ReplyContact& contact) {
  out += '<';
  append_field(out, contact.uri);
  out += '>';
  if (contact.expires) {
    out += ";expires=";
    append_number(out, *contact.expires);
  }
  if (contact.q_millis) {
    out += ";q=";
    append_q(out, *contact.q_millis);
  }
}

su_sockaddr_t response_destination(const sip_via_t& top_via, const su_sockaddr_t& source) {
  su_sockaddr_t destination = source;
  if (top_via.v_rport) return destination;
  uint16_t port = 5060;
  if (top_via.v_port) {
    const std::string_view text(top_via.v_port);
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size() && value > 0 && value <= 65535)
      port = static_cast<uint16_t>(value);
  }
  destination.su_port = htons(port);
  return destination;
}

void encode_response(const sip_t& request, const su_sockaddr_t& source, const Reply& reply,
                     std::string& out) {
  out += "SIP/2.0 ";
  append_number(out, static_cast<uint64_t>(reply.status));
  out += ' ';
  // sip_status_phrase gives "" for codes it does not know.
  const char* standard = sip_status_phrase(reply.status);
  append_field(out, !reply.reason.empty()   ? std::string_view(reply.reason)
                    : standard && *standard ? std::string_view(standard)
                                            : std::string_view("Unknown"));
  out += "\r\n";
  for (const sip_via_t* via = request.sip_via; via; via = via->v_next)
    append_via(out, via, via == request.sip_via ? &source : nullptr);
  if (request.sip_from) {
    append_header_line(out, reinterpret_cast<const msg_header_t*>(request.sip_from));
    out += "\r\n";
  }
  if (request.sip_to) {
    append_header_line(out, reinterpret_cast<const msg_header_t*>(request.sip_to));
    if (!request.sip_to->a_tag && reply.status > 100) {
      char buffer[kToTagBufferSize];
      append_tag(out,
                 reply.to_tag.empty() ? response_to_tag(request, buffer) : std::string_view(reply.to_tag));
    }
    out += "\r\n";
  }
  for (const msg_header_t* header : {reinterpret_cast<const msg_header_t*>(request.sip_call_id),
                                     reinterpret_cast<const msg_header_t*>(request.sip_cseq)}) {
    if (!header) continue;
    append_header_line(out, header);
    out += "\r\n";
  }
  for (const auto& contact : reply.contacts) {
    out += "Contact: ";
    append_contact_value(out, contact);
    out += "\r\n";
  }
  for (const auto& [name, value] : reply.headers) {
    append_field(out, name);
    out += ": ";
    append_field(out, value);
    out += "\r\n";
  }
  out += "Server: ";
  out += kServerProduct;
  out += "\r\n";
  if (!reply.content_type.empty()) {
    out += "Content-Type: ";
    append_field(out, reply.content_type);
    out += "\r\n";
  }
  out += "Content-Length: ";
  append_number(out, reply.body.size());
  out += "\r\n\r\n";
  out += reply.body;
}

}  // namespace homesip::core
