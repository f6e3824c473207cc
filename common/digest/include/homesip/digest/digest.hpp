// HTTP Digest for SIP (RFC 3261 22, RFC 7616, RFC 8760): the arithmetic and
// the header syntax, shared by the server side (the auth-digest plugin) and
// the client side (the tree plugin's upward registration, tools). No SIP
// stack and no store here: strings in, strings out. OpenSSL does the hashing.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip::digest {

enum class Algorithm { kMd5, kSha256 };

// "MD5" / "SHA-256" (as written in headers and in UserCredential::algorithm).
std::string_view algorithm_name(Algorithm algorithm);
// Case-insensitive; "MD5-sess"/"SHA-256-sess" and anything else: nullopt.
std::optional<Algorithm> parse_algorithm(std::string_view name);

// Lower-case hex of H(text).
std::string hash_hex(Algorithm algorithm, std::string_view text);
// HMAC-SHA-256 under `key` of the parts one after the other. Cheap enough for
// every request: the algorithm is fetched once, each thread keeps its context.
constexpr size_t kHmacSha256Bytes = 32;
std::array<unsigned char, kHmacSha256Bytes> hmac_sha256(std::string_view key,
                                                        std::initializer_list<std::string_view> parts);
// H(username:realm:password), what a user store keeps.
std::string ha1(Algorithm algorithm, std::string_view username, std::string_view realm,
                std::string_view password);

// The parameters of one Authorization / Proxy-Authorization (credentials) or
// WWW-Authenticate / Proxy-Authenticate (challenge) value. Unknown
// parameters are ignored; quoted values are unquoted (\x -> x).
struct DigestParams {
  std::string username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc;
  bool stale = false;
};
// "Digest username=\"U1\", realm=..." -> params; nullopt when the scheme is not
// Digest or the syntax is broken (unbalanced quotes, a parameter without =).
std::optional<DigestParams> parse(std::string_view header_value);

// The expected `response` (RFC 7616 3.4.1), from HA1: with qop "auth"
// KD(HA1, nonce:nc:cnonce:auth:HA2), without qop (RFC 2069) KD(HA1, nonce:HA2);
// HA2 = H(method:uri).
std::string response(Algorithm algorithm, std::string_view ha1_hex, std::string_view method,
                     const DigestParams& credentials);

// Constant-time equality of two strings of the same length (false otherwise).
bool equal_constant_time(std::string_view a, std::string_view b);

// A challenge value: Digest realm="..", nonce="..", algorithm=SHA-256, qop="auth"[, stale=true][,
// opaque=".."].
std::string challenge(Algorithm algorithm, std::string_view realm, std::string_view nonce, bool stale,
                      std::string_view opaque = {});

// The client side: answers `challenge` (parsed) for `method` and `uri` with
// the password; `cnonce` random and `nc` counted by the caller. Returns the
// Authorization value, or nullopt for an algorithm or qop it cannot do.
std::optional<std::string> authorization(const DigestParams& challenge, std::string_view username,
                                         std::string_view password, std::string_view method,
                                         std::string_view uri, std::string_view cnonce, uint32_t nc);

// Stateless nonces: base64url of (issue time, 8 bytes big-endian) followed by
// HMAC-SHA-256(secret, time || realm) truncated to 16 bytes. Any server with
// the same secret validates them, also after a restart.
class NonceFactory {
 public:
  explicit NonceFactory(std::string secret);
  std::string make(std::string_view realm, int64_t now_unix) const;
  // A nonce of its own for one challenge: base64url of (issue time, 8 bytes
  // big-endian; `salt`, 8 bytes) followed by HMAC-SHA-256(secret, time ||
  // salt || realm) truncated to 16 bytes. Two challenges in one second with
  // different salts (a counter from a random start) get different nonces, so
  // one client's nonce counts never collide with another's. check() takes both forms.
  std::string make(std::string_view realm, int64_t now_unix, uint64_t salt) const;
  enum class Check { kValid, kStale, kForged };
  // kStale when older than `lifetime_s` (or from the future by more than 5 s);
  // kForged when not made with this secret and realm. Sets `issued_at`, and
  // `salt` (0 for a nonce without one), when not forged.
  Check check(std::string_view nonce, std::string_view realm, int64_t now_unix, int64_t lifetime_s,
              int64_t* issued_at = nullptr, uint64_t* salt = nullptr) const;

 private:
  std::string secret_;
};

}  // namespace homesip::digest
