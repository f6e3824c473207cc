#include "sip_text.hpp"

#include <strings.h>

#include <charconv>

namespace homesip::loadgen {

std::string register_text(const RegisterRequest& r) {
  const std::string cseq = std::to_string(r.cseq);
  std::string text;
  text.reserve(512 + r.authorization.size());
  text.append("REGISTER sip:").append(r.domain).append(" SIP/2.0\r\n");
  // One branch per transaction (Call-ID and CSeq make it unique); a retransmission repeats it.
  text.append("Via: SIP/2.0/UDP ").append(r.local_address).append(";rport;branch=z9hG4bK");
  text.append(r.tag).append(".").append(cseq).append("\r\n");
  text.append("Max-Forwards: 70\r\n");
  text.append("From: <sip:")
      .append(r.user)
      .append("@")
      .append(r.domain)
      .append(">;tag=")
      .append(r.tag)
      .append("\r\n");
  text.append("To: <sip:").append(r.user).append("@").append(r.domain).append(">\r\n");
  text.append("Call-ID: ").append(r.call_id).append("\r\n");
  text.append("CSeq: ").append(cseq).append(" REGISTER\r\n");
  text.append("Contact: <sip:").append(r.user).append("@").append(r.local_address).append(">\r\n");
  text.append("Expires: ").append(std::to_string(r.expires)).append("\r\n");
  if (!r.authorization.empty()) text.append("Authorization: ").append(r.authorization).append("\r\n");
  text.append("User-Agent: homesip-loadgen\r\nContent-Length: 0\r\n\r\n");
  return text;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is(std::string_view name, std::string_view expected) {
  return name.size() == expected.size() && ::strncasecmp(name.data(), expected.data(), name.size()) == 0;
}

uint32_t leading_number(std::string_view s) {
  uint32_t value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value;
}

}  // namespace

std::optional<Response> parse_response(std::string_view datagram) {
  constexpr std::string_view kVersion = "SIP/2.0 ";
  if (datagram.substr(0, kVersion.size()) != kVersion) return std::nullopt;
  Response response;
  response.status = static_cast<int>(leading_number(datagram.substr(kVersion.size())));
  if (response.status < 100 || response.status > 699) return std::nullopt;
  size_t line_start = datagram.find("\r\n");
  while (line_start != std::string_view::npos) {
    line_start += 2;
    const size_t line_end = datagram.find("\r\n", line_start);
    if (line_end == std::string_view::npos || line_end == line_start) break;  // end of the head
    const std::string_view line = datagram.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trim(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (is(name, "Call-ID") || is(name, "i"))
        response.call_id = value;
      else if (is(name, "CSeq"))
        response.cseq = leading_number(value);
      else if (is(name, "WWW-Authenticate"))
        response.challenges.push_back(value);
    }
    line_start = line_end;
  }
  return response;
}

}  // namespace homesip::loadgen
