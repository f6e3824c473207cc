#include "flow_token.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

#include "homesip/digest/digest.hpp"

namespace homesip::core {
namespace {

// 128 bits of the HMAC-SHA256: enough that guessing one is hopeless.
constexpr size_t kMacBytes = 16;

std::string hex(const unsigned char* bytes, size_t length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(length * 2);
  for (size_t i = 0; i < length; ++i) {
    text.push_back(kDigits[bytes[i] >> 4]);
    text.push_back(kDigits[bytes[i] & 15]);
  }
  return text;
}

}  // namespace

std::optional<FlowAddress> parse_flow(std::string_view source) {
  const size_t colon = source.find(':');
  const size_t last = source.rfind(':');
  if (colon == std::string_view::npos || last == colon) return std::nullopt;
  FlowAddress flow;
  flow.transport = std::string(source.substr(0, colon));
  if (flow.transport != "tcp" && flow.transport != "tls") return std::nullopt;
  std::string ip(source.substr(colon + 1, last - colon - 1));
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  const std::string_view port_text = source.substr(last + 1);
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return std::nullopt;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&flow.peer);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&flow.peer);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
  } else if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    return std::nullopt;
  }
  return flow;
}

FlowTokens::FlowTokens() {
  if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1)
    throw std::runtime_error("no random bytes for the flow tokens' secret");
}

std::string FlowTokens::mac(std::string_view text, size_t bytes) const {
  // Every forwarded request's branch carries one: the per-thread context is the cheap way.
  const auto digest =
      digest::hmac_sha256({reinterpret_cast<const char*>(secret_.data()), secret_.size()}, {text});
  return hex(digest.data(), std::min(digest.size(), bytes));
}

bool FlowTokens::matches(std::string_view text, std::string_view given) const {
  if (given.empty() || given.size() % 2 != 0 || given.size() > 2 * kMacBytes) return false;
  const std::string expected = mac(text, given.size() / 2);
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

namespace {
// What a flow token's MAC covers: the flow and the dialog it was given for.
std::string sealed_text(std::string_view source, std::string_view dialog) {
  std::string text(source);
  text += '\n';
  text += dialog;
  return text;
}
}  // namespace

std::string FlowTokens::seal(std::string_view source, std::string_view dialog) const {
  std::string token(source);
  token += '~';
  token += mac(sealed_text(source, dialog), kMacBytes);
  return token;
}

std::optional<std::string> FlowTokens::open(std::string_view token, std::string_view dialog) const {
  const size_t tilde = token.rfind('~');
  if (tilde == std::string_view::npos) return std::nullopt;
  const std::string_view source = token.substr(0, tilde);
  const std::string_view given = token.substr(tilde + 1);
  const std::string expected = mac(sealed_text(source, dialog), kMacBytes);
  if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0)
    return std::nullopt;
  if (!parse_flow(source)) return std::nullopt;
  return std::string(source);
}

}  // namespace homesip::core
