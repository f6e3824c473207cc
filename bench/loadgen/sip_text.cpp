#include "sip_text.hpp"

#include <strings.h>

#include <charconv>

namespace homesip::loadgen {

namespace {

constexpr std::string_view kMagicCookie = "z9hG4bK";

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

// The value of header parameter `name` ("branch", "tag") in a header value, "" when absent.
std::string_view parameter(std::string_view value, std::string_view name) {
  size_t at = 0;
  while ((at = value.find(';', at)) != std::string_view::npos) {
    ++at;
    std::string_view rest = trim(value.substr(at));
    if (rest.size() > name.size() && rest[name.size()] == '=' && is(rest.substr(0, name.size()), name)) {
      rest.remove_prefix(name.size() + 1);
      return rest.substr(0, rest.find_first_of(";, \t>"));
    }
  }
  return {};
}

// "host:port" of a Contact value's URI: <sip:user@host:port;params>, or sip:host:port without
// brackets. Whatever follows the host port (parameters, '>') is cut off.
std::string_view uri_host_port(std::string_view value) {
  if (const size_t open = value.find('<'); open != std::string_view::npos) value.remove_prefix(open + 1);
  if (value.substr(0, 4) != "sip:") return {};
  value.remove_prefix(4);
  const size_t end = value.find_first_of(";>?, \t");
  value = value.substr(0, end);
  if (const size_t at = value.rfind('@'); at != std::string_view::npos) value.remove_prefix(at + 1);
  return value;
}

// Calls f(name, value, line) for each header line of a message head (after its first line).
template <typename F>
void for_each_header(std::string_view message, F&& f) {
  size_t line_start = message.find("\r\n");
  while (line_start != std::string_view::npos) {
    line_start += 2;
    const size_t line_end = message.find("\r\n", line_start);
    if (line_end == std::string_view::npos || line_end == line_start) return;  // end of the head
    const std::string_view line = message.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) f(trim(line.substr(0, colon)), trim(line.substr(colon + 1)), line);
    line_start = line_end;
  }
}

}  // namespace

std::string request_text(const Request& r) {
  const bool is_register = r.method == "REGISTER";
  const std::string_view from_user = is_register ? r.user : r.caller;
  const std::string cseq = std::to_string(r.cseq);
  std::string text;
  text.reserve(512 + r.authorization.size());
  text.append(r.method).append(" sip:");
  if (!is_register) text.append(r.user).append("@");
  text.append(r.domain).append(" SIP/2.0\r\n");
  text.append("Via: SIP/2.0/")
      .append(r.transport)
      .append(" ")
      .append(r.local_address)
      .append(";rport;branch=");
  text.append(kMagicCookie).append(r.branch).append("\r\n");
  text.append("Max-Forwards: 70\r\n");
  text.append("From: <sip:").append(from_user).append("@").append(r.domain).append(">;tag=");
  text.append(r.from_tag).append("\r\n");
  text.append("To: <sip:").append(r.user).append("@").append(r.domain).append(">");
  if (!r.to_tag.empty()) text.append(";tag=").append(r.to_tag);
  text.append("\r\nCall-ID: ").append(r.call_id).append("\r\n");
  text.append("CSeq: ").append(cseq).append(" ").append(r.method).append("\r\n");
  if (r.method != "ACK")
    text.append("Contact: <sip:")
        .append(from_user)
        .append("@")
        .append(r.contact_address.empty() ? r.local_address : r.contact_address)
        .append(r.transport == "TCP" ? ";transport=tcp>\r\n" : ">\r\n");
  if (is_register) text.append("Expires: ").append(std::to_string(r.expires)).append("\r\n");
  if (!r.authorization.empty()) text.append("Authorization: ").append(r.authorization).append("\r\n");
  text.append("User-Agent: homesip-loadgen\r\nContent-Length: 0\r\n\r\n");
  return text;
}

std::optional<Response> parse_response(std::string_view datagram) {
  constexpr std::string_view kVersion = "SIP/2.0 ";
  if (datagram.substr(0, kVersion.size()) != kVersion) return std::nullopt;
  Response response;
  response.status = static_cast<int>(leading_number(datagram.substr(kVersion.size())));
  if (response.status < 100 || response.status > 699) return std::nullopt;
  for_each_header(datagram, [&](std::string_view name, std::string_view value, std::string_view) {
    if (is(name, "Call-ID") || is(name, "i"))
      response.call_id = value;
    else if (is(name, "CSeq"))
      response.cseq = leading_number(value);
    else if ((is(name, "Via") || is(name, "v")) && response.branch.empty())
      response.branch = parameter(value.substr(0, value.find(',')), "branch");
    else if (is(name, "To") || is(name, "t"))
      response.to_tag = parameter(value, "tag");
    else if (is(name, "WWW-Authenticate"))
      response.challenges.push_back(value);
    else if (is(name, "Retry-After") && !value.empty() && value.front() >= '0' && value.front() <= '9')
      response.retry_after_s = static_cast<int>(leading_number(value));
    else if ((is(name, "Contact") || is(name, "m")) && response.contact_host_port.empty())
      response.contact_host_port = uri_host_port(value);
  });
  return response;
}

bool minimal_ok(std::string_view request, std::string& out) {
  const size_t space = request.find(' ');
  if (space == std::string_view::npos || space == 0 || request.substr(0, 4) == "SIP/" ||
      request.substr(0, space) == "ACK")
    return false;
  out.assign("SIP/2.0 200 OK\r\n");
  for_each_header(request, [&](std::string_view name, std::string_view value, std::string_view line) {
    if (is(name, "Via") || is(name, "v") || is(name, "From") || is(name, "f") || is(name, "Call-ID") ||
        is(name, "i") || is(name, "CSeq")) {
      out.append(line).append("\r\n");
    } else if (is(name, "To") || is(name, "t")) {
      out.append(line);
      if (parameter(value, "tag").empty()) out.append(";tag=bare");
      out.append("\r\n");
    }
  });
  out.append("Content-Length: 0\r\n\r\n");
  return true;
}

}  // namespace homesip::loadgen
