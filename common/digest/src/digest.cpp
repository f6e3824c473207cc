// HTTP Digest for SIP: hashing with OpenSSL's EVP, the header syntax, and
// stateless HMAC nonces. See digest.hpp for the contract.
#include "homesip/digest/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>

namespace homesip::digest {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// RFC 7230 token characters (what an unquoted parameter value may hold).
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
    case '/':  // seen unquoted in the wild (base64 nonces); harmless here
    case ':':
    case '=':
      return true;
    default:
      return false;
  }
}

// OpenSSL 3 looks a legacy handle (EVP_md5(), EVP_sha256()) and HMAC()'s MAC
// up in its provider store on every use: a shared read lock, a lookup and a
// context allocated and freed, about 3/4 of each hash's cost and a lock that
// every loop thread takes (measured: 0.88 against 0.38 µs per MD5, 2.6
// against 0.4 µs per HMAC with its key kept). So the algorithms are fetched
// once per process and each thread keeps its contexts for its life.
const EVP_MD* fetched_md(Algorithm algorithm) {
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  const EVP_MD* md = algorithm == Algorithm::kMd5 ? md5 : sha256;
  if (!md) throw std::runtime_error("OpenSSL has no " + std::string(algorithm_name(algorithm)));
  return md;
}

// An HMAC context keyed once: keying hashes two blocks and allocates, more
// than the MAC of a short text; a keyed context is re-initialised with its
// key kept (EVP_MAC_init without a key).
struct KeyedHmac {
  std::string key;
  EVP_MAC_CTX* context = nullptr;
  // The key is a secret: its copy is wiped before its memory goes back.
  void clear() {
    OPENSSL_cleanse(key.data(), key.size());
    key.clear();
    EVP_MAC_CTX_free(context);
    context = nullptr;
  }
};

// A process uses a few secrets (the nonces', the flow tokens'), each thread
// keeps a context for each; should more come, the oldest is keyed anew.
constexpr size_t kKeyedHmacsPerThread = 4;

struct ThreadContexts {
  EVP_MD_CTX* hash = EVP_MD_CTX_new();
  std::array<KeyedHmac, kKeyedHmacsPerThread> hmacs;
  size_t next_hmac = 0;  // the slot keyed next when a key is not there
  ThreadContexts() = default;
  ThreadContexts(const ThreadContexts&) = delete;
  ThreadContexts& operator=(const ThreadContexts&) = delete;
  ~ThreadContexts() {
    EVP_MD_CTX_free(hash);
    hash = nullptr;
    for (KeyedHmac& hmac : hmacs) hmac.clear();
  }
};

ThreadContexts& thread_contexts() {
  thread_local ThreadContexts contexts;
  if (!contexts.hash) throw std::runtime_error("EVP_MD_CTX_new failed");
  return contexts;
}

EVP_MAC_CTX* new_hmac_sha256_context(std::string_view key) {
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!hmac) throw std::runtime_error("OpenSSL has no HMAC");
  EVP_MAC_CTX* context = EVP_MAC_CTX_new(hmac);
  char digest_name[] = "SHA2-256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
                               OSSL_PARAM_construct_end()};
  if (!context ||
      !EVP_MAC_init(context, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params)) {
    EVP_MAC_CTX_free(context);
    throw std::runtime_error("HMAC-SHA-256 context failed");
  }
  return context;
}

// The MAC of the parts one after the other, on a context just (re)started.
std::array<unsigned char, kHmacSha256Bytes> mac_of(EVP_MAC_CTX* context,
                                                   std::initializer_list<std::string_view> parts) {
  std::array<unsigned char, kHmacSha256Bytes> mac{};
  size_t size = 0;
  bool ok = true;
  for (std::string_view part : parts)
    ok = ok && EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  if (!ok || !EVP_MAC_final(context, mac.data(), &size, mac.size()) || size != mac.size())
    throw std::runtime_error("HMAC-SHA-256 failed");
  return mac;
}

// Whether EVP_MAC_init without a key restarts an HMAC with the key it had:
// OpenSSL 3.0.0 to 3.0.2 return success and keep no key (openssl#17811),
// and a binary built against a later 3.0 may run on one of them. Asked once
// per process: the same MAC twice, the second after such a restart.
bool key_kept_on_restart() {
  EVP_MAC_CTX* context = new_hmac_sha256_context("homesip key check");
  bool kept = false;
  try {
    const auto first = mac_of(context, {"text"});
    kept = EVP_MAC_init(context, nullptr, 0, nullptr) && mac_of(context, {"text"}) == first;
  } catch (const std::runtime_error&) {
    kept = false;
  }
  EVP_MAC_CTX_free(context);
  return kept;
}

// This thread's context keyed with `key`, ready for EVP_MAC_update. The keys
// compared here are the server's own secrets, never a sender's input.
EVP_MAC_CTX* keyed_hmac_sha256(std::string_view key) {
  static const bool restart_keeps_key = key_kept_on_restart();
  ThreadContexts& contexts = thread_contexts();
  for (KeyedHmac& hmac : contexts.hmacs)
    if (hmac.context && hmac.key == key) {
      const bool restarted =
          restart_keeps_key ? EVP_MAC_init(hmac.context, nullptr, 0, nullptr)
                            : EVP_MAC_init(hmac.context, reinterpret_cast<const unsigned char*>(key.data()),
                                           key.size(), nullptr);
      if (!restarted) throw std::runtime_error("HMAC-SHA-256 failed");
      return hmac.context;
    }
  KeyedHmac& slot = contexts.hmacs[contexts.next_hmac];
  contexts.next_hmac = (contexts.next_hmac + 1) % contexts.hmacs.size();
  EVP_MAC_CTX* context = new_hmac_sha256_context(key);
  slot.clear();
  // The key first: should copying it throw, the slot holds no context for an empty key.
  try {
    slot.key.assign(key);
  } catch (...) {
    EVP_MAC_CTX_free(context);
    throw;
  }
  slot.context = context;
  return context;
}

std::string to_hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0x0f]);
  }
  return out;
}

// "a\"b" -> a"b; for a value written inside quotes.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(const unsigned char* bytes, size_t size) {
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
    out.push_back(kBase64Url[v & 63]);
  }
  if (size - i == 1) {
    const uint32_t v = uint32_t{bytes[i]} << 16;
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
  } else if (size - i == 2) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
  }
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Decodes unpadded base64url of exactly `expected` bytes; false otherwise.
bool base64url_decode(std::string_view text, unsigned char* out, size_t expected) {
  if (text.size() != (expected * 4 + 2) / 3) return false;
  size_t written = 0;
  uint32_t accumulator = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return false;
    accumulator = (accumulator << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (written == expected) return false;
      out[written++] = static_cast<unsigned char>((accumulator >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero (one encoding per value).
  if ((accumulator & ((1u << bits) - 1)) != 0) return false;
  return written == expected;
}

constexpr size_t kTimeBytes = 8;
constexpr size_t kSaltBytes = 8;
constexpr size_t kMacBytes = 16;

// HMAC-SHA-256(secret, fields || realm), the first kMacBytes.
std::array<unsigned char, kMacBytes> nonce_mac(const std::string& secret, const unsigned char* fields,
                                               size_t size, std::string_view realm) {
  const auto mac = hmac_sha256(secret, {{reinterpret_cast<const char*>(fields), size}, realm});
  std::array<unsigned char, kMacBytes> out{};
  std::copy_n(mac.begin(), kMacBytes, out.begin());
  return out;
}

void put_be64(unsigned char* out, uint64_t value) {
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(value >> (8 * (7 - i)));
}

// True when the challenge's qop list ("auth", "auth,auth-int") offers auth.
bool offers_auth(std::string_view qop_list) {
  while (!qop_list.empty()) {
    const size_t comma = qop_list.find(',');
    if (iequals(trim(qop_list.substr(0, comma)), "auth")) return true;
    if (comma == std::string_view::npos) break;
    qop_list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  return algorithm == Algorithm::kMd5 ? "MD5" : "SHA-256";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  if (iequals(name, "MD5")) return Algorithm::kMd5;
  if (iequals(name, "SHA-256")) return Algorithm::kSha256;
  return std::nullopt;
}

std::array<unsigned char, kHmacSha256Bytes> hmac_sha256(std::string_view key,
                                                        std::initializer_list<std::string_view> parts) {
  return mac_of(keyed_hmac_sha256(key), parts);
}

std::string hash_hex(Algorithm algorithm, std::string_view text) {
  EVP_MD_CTX* context = thread_contexts().hash;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!EVP_DigestInit_ex2(context, fetched_md(algorithm), nullptr) ||
      !EVP_DigestUpdate(context, text.data(), text.size()) || !EVP_DigestFinal_ex(context, digest, &size))
    throw std::runtime_error("hashing failed for " + std::string(algorithm_name(algorithm)));
  return to_hex(digest, size);
}

std::string ha1(Algorithm algorithm, std::string_view username, std::string_view realm,
                std::string_view password) {
  std::string text;
  text.reserve(username.size() + realm.size() + password.size() + 2);
  text.append(username).append(":").append(realm).append(":").append(password);
  return hash_hex(algorithm, text);
}

std::optional<DigestParams> parse(std::string_view header_value) {
  std::string_view rest = trim(header_value);
  if (rest.size() < 6 || !iequals(rest.substr(0, 6), "Digest")) return std::nullopt;
  rest.remove_prefix(6);
  if (!rest.empty() && !is_space(rest.front())) return std::nullopt;  // "DigestX"
  DigestParams params;
  // Which known parameters were seen: a second one is an error, not a choice.
  std::vector<std::string_view> seen;
  for (;;) {
    while (!rest.empty() && (is_space(rest.front()) || rest.front() == ',')) rest.remove_prefix(1);
    if (rest.empty()) break;
    size_t name_end = 0;
    while (name_end < rest.size() && is_token_char(rest[name_end]) && rest[name_end] != '=') ++name_end;
    if (name_end == 0) return std::nullopt;
    const std::string_view name = rest.substr(0, name_end);
    rest.remove_prefix(name_end);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    if (rest.empty() || rest.front() != '=') return std::nullopt;
    rest.remove_prefix(1);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      bool closed = false;
      while (!rest.empty()) {
        const char c = rest.front();
        rest.remove_prefix(1);
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (rest.empty()) return std::nullopt;
          value.push_back(rest.front());
          rest.remove_prefix(1);
          continue;
        }
        value.push_back(c);
      }
      if (!closed) return std::nullopt;
    } else {
      size_t end = 0;
      while (end < rest.size() && is_token_char(rest[end])) ++end;
      if (end == 0) return std::nullopt;
      value.assign(rest.substr(0, end));
      rest.remove_prefix(end);
    }
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    if (!rest.empty() && rest.front() != ',') return std::nullopt;  // junk after a value

    std::string* field = nullptr;
    static constexpr std::string_view kNames[] = {"username",  "realm",  "nonce",  "uri", "response",
                                                  "algorithm", "cnonce", "opaque", "qop", "nc"};
    std::string* const kFields[] = {&params.username, &params.realm,     &params.nonce,  &params.uri,
                                    &params.response, &params.algorithm, &params.cnonce, &params.opaque,
                                    &params.qop,      &params.nc};
    for (size_t i = 0; i < std::size(kNames); ++i)
      if (iequals(name, kNames[i])) field = kFields[i];
    const bool stale = iequals(name, "stale");
    if (!field && !stale) continue;  // unknown parameters are ignored
    for (std::string_view s : seen)
      if (iequals(s, name)) return std::nullopt;
    seen.push_back(name);
    if (stale)
      params.stale = iequals(value, "true");
    else
      *field = std::move(value);
  }
  return params;
}

std::string response(Algorithm algorithm, std::string_view ha1_hex, std::string_view method,
                     const DigestParams& credentials) {
  std::string a2;
  a2.append(method).append(":").append(credentials.uri);
  const std::string ha2 = hash_hex(algorithm, a2);
  std::string kd;
  kd.append(ha1_hex).append(":").append(credentials.nonce).append(":");
  if (!credentials.qop.empty())
    kd.append(credentials.nc)
        .append(":")
        .append(credentials.cnonce)
        .append(":")
        .append(credentials.qop)
        .append(":");
  kd.append(ha2);
  return hash_hex(algorithm, kd);
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string challenge(Algorithm algorithm, std::string_view realm, std::string_view nonce, bool stale,
                      std::string_view opaque) {
  std::string out = "Digest realm=" + quote(realm) + ", nonce=" + quote(nonce) +
                    ", algorithm=" + std::string(algorithm_name(algorithm)) + ", qop=\"auth\"";
  if (stale) out += ", stale=true";
  if (!opaque.empty()) out += ", opaque=" + quote(opaque);
  return out;
}

std::optional<std::string> authorization(const DigestParams& challenge, std::string_view username,
                                         std::string_view password, std::string_view method,
                                         std::string_view uri, std::string_view cnonce, uint32_t nc) {
  std::optional<Algorithm> algorithm = challenge.algorithm.empty() ? std::optional<Algorithm>(Algorithm::kMd5)
                                                                   : parse_algorithm(challenge.algorithm);
  if (!algorithm) return std::nullopt;
  DigestParams credentials;
  credentials.username = std::string(username);
  credentials.realm = challenge.realm;
  credentials.nonce = challenge.nonce;
  credentials.uri = std::string(uri);
  credentials.opaque = challenge.opaque;
  if (!challenge.qop.empty()) {
    if (!offers_auth(challenge.qop)) return std::nullopt;
    char count[9];
    std::snprintf(count, sizeof count, "%08x", nc);
    credentials.qop = "auth";
    credentials.nc = count;
    credentials.cnonce = std::string(cnonce);
  }
  const std::string ha1_hex = ha1(*algorithm, username, challenge.realm, password);
  const std::string expected = response(*algorithm, ha1_hex, method, credentials);
  std::string out = "Digest username=" + quote(username) + ", realm=" + quote(credentials.realm) +
                    ", nonce=" + quote(credentials.nonce) + ", uri=" + quote(credentials.uri) +
                    ", response=" + quote(expected) +
                    ", algorithm=" + std::string(algorithm_name(*algorithm));
  if (!credentials.qop.empty())
    out += ", cnonce=" + quote(credentials.cnonce) + ", qop=auth, nc=" + credentials.nc;
  if (!credentials.opaque.empty()) out += ", opaque=" + quote(credentials.opaque);
  return out;
}

NonceFactory::NonceFactory(std::string secret) : secret_(std::move(secret)) {
  if (secret_.empty()) throw std::invalid_argument("NonceFactory needs a secret");
}

std::string NonceFactory::make(std::string_view realm, int64_t now_unix) const {
  unsigned char bytes[kTimeBytes + kMacBytes];
  put_be64(bytes, static_cast<uint64_t>(now_unix));
  const auto mac = nonce_mac(secret_, bytes, kTimeBytes, realm);
  std::copy(mac.begin(), mac.end(), bytes + kTimeBytes);
  return base64url(bytes, sizeof bytes);
}

std::string NonceFactory::make(std::string_view realm, int64_t now_unix, uint64_t salt) const {
  unsigned char bytes[kTimeBytes + kSaltBytes + kMacBytes];
  put_be64(bytes, static_cast<uint64_t>(now_unix));
  put_be64(bytes + kTimeBytes, salt);
  const auto mac = nonce_mac(secret_, bytes, kTimeBytes + kSaltBytes, realm);
  std::copy(mac.begin(), mac.end(), bytes + kTimeBytes + kSaltBytes);
  return base64url(bytes, sizeof bytes);
}

NonceFactory::Check NonceFactory::check(std::string_view nonce, std::string_view realm, int64_t now_unix,
                                        int64_t lifetime_s, int64_t* issued_at, uint64_t* salt) const {
  unsigned char bytes[kTimeBytes + kSaltBytes + kMacBytes];
  size_t fields = kTimeBytes;  // what the MAC covers: the time, and the salt when there is one
  if (base64url_decode(nonce, bytes, kTimeBytes + kMacBytes))
    fields = kTimeBytes;
  else if (base64url_decode(nonce, bytes, kTimeBytes + kSaltBytes + kMacBytes))
    fields = kTimeBytes + kSaltBytes;
  else
    return Check::kForged;
  const auto mac = nonce_mac(secret_, bytes, fields, realm);
  if (CRYPTO_memcmp(mac.data(), bytes + fields, kMacBytes) != 0) return Check::kForged;
  uint64_t t = 0;
  for (size_t i = 0; i < kTimeBytes; ++i) t = (t << 8) | bytes[i];
  const int64_t issued = static_cast<int64_t>(t);
  if (issued_at) *issued_at = issued;
  if (salt) {
    uint64_t value = 0;
    if (fields > kTimeBytes)
      for (size_t i = kTimeBytes; i < kTimeBytes + kSaltBytes; ++i) value = (value << 8) | bytes[i];
    *salt = value;
  }
  if (issued > now_unix + 5) return Check::kStale;
  if (now_unix - issued > lifetime_s) return Check::kStale;
  return Check::kValid;
}

}  // namespace homesip::digest
