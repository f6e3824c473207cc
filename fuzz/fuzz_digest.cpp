// The digest header syntax (common/digest), the one parser of Authorization
// and Proxy-Authorization values from the network, and the nonces checked
// against it.
//
// Input: any bytes, read as a credentials value ("Digest username=..."): the
// parsed nonce is checked and the expected response computed, as
// auth-digest does. Then the input, split at its first LF into a realm and an
// opaque value, goes into a challenge this side writes: parsing it back must
// give the same realm, opaque value and nonce, and that nonce must check as
// valid (what we write, the parser reads the same).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "homesip/digest/digest.hpp"

namespace digest = homesip::digest;

namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kLifetime = 300;

const digest::NonceFactory& nonces() {
  static const digest::NonceFactory factory("fuzz-secret");
  return factory;
}

void check_credentials(std::string_view value) {
  const auto parsed = digest::parse(value);
  if (!parsed) return;
  int64_t issued_at = 0;
  (void)nonces().check(parsed->nonce, parsed->realm, kNow, kLifetime, &issued_at);
  const auto algorithm = digest::parse_algorithm(parsed->algorithm.empty() ? "MD5" : parsed->algorithm);
  if (!algorithm) return;
  const std::string expected =
      digest::response(*algorithm, "0123456789abcdef0123456789abcdef", "REGISTER", *parsed);
  FUZZ_CHECK(expected.size() == (*algorithm == digest::Algorithm::kMd5 ? 32u : 64u),
             "response of %zu hex digits", expected.size());
}

void check_round_trip(std::string_view text) {
  const size_t lf = text.find('\n');
  const std::string realm(text.substr(0, lf));
  const std::string opaque(lf == std::string_view::npos ? std::string_view() : text.substr(lf + 1));
  const std::string nonce = nonces().make(realm, kNow, text.size());
  const std::string written =
      digest::challenge(digest::Algorithm::kSha256, realm, nonce, !text.empty(), opaque);
  const auto back = digest::parse(written);
  FUZZ_CHECK(back.has_value(), "our own challenge does not parse: %s", written.c_str());
  FUZZ_CHECK(back->realm == realm, "realm read back differs: %s", written.c_str());
  FUZZ_CHECK(back->opaque == opaque, "opaque read back differs: %s", written.c_str());
  FUZZ_CHECK(back->nonce == nonce, "nonce read back differs: %s", written.c_str());
  FUZZ_CHECK(back->stale == !text.empty(), "stale read back differs: %s", written.c_str());
  FUZZ_CHECK(nonces().check(back->nonce, realm, kNow + 1, kLifetime) == digest::NonceFactory::Check::kValid,
             "our own nonce does not check: %s", written.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_credentials(text);
  check_round_trip(text);
  return 0;
}
