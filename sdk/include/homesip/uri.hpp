// The SDK's one SIP URI parser (RFC 3261 19.1), for plugins: a Contact from a
// store, a setting such as a parent's address, a URI in a JSON body. It splits
// and views; it never allocates, so the result points into the text given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace homesip {

// The parts of a SIP URI a server decides on. Views into someone's text.
struct UriView {
  std::string_view scheme;   // "sip" or "sips" (lower case as written)
  std::string_view user;     // empty when absent; still %-escaped
  std::string_view host;     // "example.org", "192.0.2.1", "[2001:db8::1]"
  std::string_view port;     // empty when absent
  std::string_view params;   // "transport=tcp;lr" without the leading ';', or empty
  std::string_view headers;  // "subject=x&priority=urgent" without the '?', or empty
  bool empty() const { return host.empty(); }
  // The port as a number; 0 when absent or not a number.
  uint16_t port_number() const {
    if (port.empty() || port.size() > 5) return 0;
    uint32_t value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return 0;
      value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    return value <= 65535 ? static_cast<uint16_t>(value) : 0;
  }
};

namespace uri_detail {
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
inline bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}
}  // namespace uri_detail

// Parses "sip:user@host:port;params?headers", also inside a name-addr
// ("Name" <sip:...>;tag=x: the part between < and >). nullopt for anything
// that is not a sip: or sips: URI with a valid host and port.
inline std::optional<UriView> parse_uri(std::string_view text) {
  using uri_detail::iequals;
  if (const size_t open = text.find('<'); open != std::string_view::npos) {
    const size_t close = text.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    text = text.substr(open + 1, close - open - 1);
  }
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  UriView uri;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  uri.scheme = text.substr(0, colon);
  if (!iequals(uri.scheme, "sip") && !iequals(uri.scheme, "sips")) return std::nullopt;
  std::string_view rest = text.substr(colon + 1);
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    uri.headers = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  // The userinfo ends at the last '@' before any parameter ("a;b@host" is a user with ';').
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    uri.user = rest.substr(0, at);
    if (const size_t password = uri.user.find(':'); password != std::string_view::npos)
      uri.user = uri.user.substr(0, password);
    if (uri.user.empty()) return std::nullopt;
    rest = rest.substr(at + 1);
  }
  if (const size_t semi = rest.find(';'); semi != std::string_view::npos) {
    uri.params = rest.substr(semi + 1);
    rest = rest.substr(0, semi);
  }
  bool has_port = false;                       // a ':' after the host promises one (RFC 3261: port = 1*DIGIT)
  if (!rest.empty() && rest.front() == '[') {  // IPv6 reference
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    uri.host = rest.substr(0, close + 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    has_port = !rest.empty();
    if (has_port) uri.port = rest.substr(1);
  } else {
    const size_t port = rest.find(':');
    uri.host = rest.substr(0, port);
    has_port = port != std::string_view::npos;
    if (has_port) uri.port = rest.substr(port + 1);
    for (char c : uri.host)
      if (!uri_detail::is_host_char(c)) return std::nullopt;
  }
  if (uri.host.empty()) return std::nullopt;
  if (has_port && uri.port_number() == 0) return std::nullopt;  // "host:" and "host:0" too
  return uri;
}

// The value of parameter `name` in a ';'-separated list ("transport=tcp;lr"):
// "" for a parameter without a value, nullopt when absent. Case-insensitive name.
inline std::optional<std::string_view> uri_param(std::string_view params, std::string_view name) {
  while (!params.empty()) {
    const size_t semi = params.find(';');
    std::string_view item = params.substr(0, semi);
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    const size_t eq = item.find('=');
    if (uri_detail::iequals(item.substr(0, eq), name))
      return eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
  }
  return std::nullopt;
}

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
