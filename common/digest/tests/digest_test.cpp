// The digest library against the RFCs' own examples, and its syntax and
// nonces on their own.
#include "homesip/digest/digest.hpp"

#include <gtest/gtest.h>

using namespace homesip::digest;

namespace {

// RFC 7616 3.9.1: the same request answered with SHA-256 and with MD5.
DigestParams rfc7616_credentials(const char* algorithm) {
  DigestParams c;
  c.username = "Mufasa";
  c.realm = "http-auth@example.org";
  c.uri = "/dir/index.html";
  c.algorithm = algorithm;
  c.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  c.nc = "00000001";
  c.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  c.qop = "auth";
  c.opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
  return c;
}

std::string hex_of(const std::array<unsigned char, kHmacSha256Bytes>& mac) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : mac) out += {kDigits[byte >> 4], kDigits[byte & 0x0f]};
  return out;
}

}  // namespace

// RFC 4231 test cases 2 and 6 (a key longer than SHA-256's block), each
// computed again after more keys than a thread keeps contexts for: a key's
// kept context, and one keyed anew, give the same MAC.
TEST(Digest, HmacSha256MatchesRfc4231WithKeysKeptAndKeyedAnew) {
  const std::string jefe_mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  const std::string long_key(131, '\xaa');
  const std::string long_mac = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
  EXPECT_EQ(hex_of(hmac_sha256("Jefe", {"what do ya want ", "for nothing?"})), jefe_mac);
  EXPECT_EQ(hex_of(hmac_sha256(long_key, {"Test Using Larger Than Block-Size Key - Hash Key First"})),
            long_mac);
  EXPECT_EQ(hex_of(hmac_sha256("Jefe", {"what do ya want for nothing?"})), jefe_mac);
  for (int i = 0; i < 6; ++i) hmac_sha256("key " + std::to_string(i), {"text"});
  EXPECT_EQ(hex_of(hmac_sha256("Jefe", {"what do ya want for nothing?"})), jefe_mac);
  EXPECT_EQ(hex_of(hmac_sha256(long_key, {"Test Using Larger Than ", "Block-Size Key - Hash Key First"})),
            long_mac);
}

TEST(Digest, AlgorithmNamesRoundTripAndSessVariantsAreRefused) {
  EXPECT_EQ(algorithm_name(Algorithm::kMd5), "MD5");
  EXPECT_EQ(algorithm_name(Algorithm::kSha256), "SHA-256");
  EXPECT_EQ(parse_algorithm("md5"), Algorithm::kMd5);
  EXPECT_EQ(parse_algorithm("sha-256"), Algorithm::kSha256);
  EXPECT_EQ(parse_algorithm("SHA-256"), Algorithm::kSha256);
  EXPECT_FALSE(parse_algorithm("MD5-sess"));
  EXPECT_FALSE(parse_algorithm("SHA-256-sess"));
  EXPECT_FALSE(parse_algorithm("SHA-512-256"));
  EXPECT_FALSE(parse_algorithm(""));
}

TEST(Digest, HashesAreLowerCaseHex) {
  EXPECT_EQ(hash_hex(Algorithm::kMd5, ""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(hash_hex(Algorithm::kSha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, Rfc7616Sha256Example) {
  const DigestParams c = rfc7616_credentials("SHA-256");
  const std::string h = ha1(Algorithm::kSha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(response(Algorithm::kSha256, h, "GET", c),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

TEST(Digest, Rfc7616Md5Example) {
  const DigestParams c = rfc7616_credentials("MD5");
  const std::string h = ha1(Algorithm::kMd5, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(response(Algorithm::kMd5, h, "GET", c), "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(Digest, Rfc2617Example) {
  const auto c = parse(
      "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
      "uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
      "response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  ASSERT_TRUE(c);
  const std::string h = ha1(Algorithm::kMd5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(response(Algorithm::kMd5, h, "GET", *c), c->response);
  EXPECT_EQ(c->response, "6629fae49393a05397450978507c4ef1");
}

TEST(Digest, Rfc2069ResponseWithoutQop) {
  DigestParams c;
  c.nonce = "n";
  c.uri = "sip:C1.D1.H1";
  const std::string h = ha1(Algorithm::kMd5, "U1", "C1.D1.H1", "pw");
  const std::string ha2 = hash_hex(Algorithm::kMd5, "REGISTER:sip:C1.D1.H1");
  EXPECT_EQ(response(Algorithm::kMd5, h, "REGISTER", c), hash_hex(Algorithm::kMd5, h + ":n:" + ha2));
}

TEST(Digest, ParsesQuotedEscapedAndUnquotedValues) {
  const auto p = parse(
      "digest  username=\"U\\\"1\" ,realm=\"C1.D1.H1\",nonce=abc-_,uri=\"sip:C1.D1.H1;transport=tcp\","
      "response=\"0123\",algorithm=sha-256,cnonce=\"x,y\",qop=auth,nc=0000000a,opaque=\"\",stale=TRUE,"
      "future=\"ignored\"");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->username, "U\"1");
  EXPECT_EQ(p->realm, "C1.D1.H1");
  EXPECT_EQ(p->nonce, "abc-_");
  EXPECT_EQ(p->uri, "sip:C1.D1.H1;transport=tcp");
  EXPECT_EQ(p->response, "0123");
  EXPECT_EQ(p->algorithm, "sha-256");
  EXPECT_EQ(p->cnonce, "x,y");
  EXPECT_EQ(p->qop, "auth");
  EXPECT_EQ(p->nc, "0000000a");
  EXPECT_EQ(p->opaque, "");
  EXPECT_TRUE(p->stale);

  const auto q = parse("Digest realm=\"r\", qop=\"auth,auth-int\", stale=false");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->qop, "auth,auth-int");
  EXPECT_FALSE(q->stale);
  EXPECT_TRUE(parse("Digest"));  // nothing given: the checks are the caller's
}

TEST(Digest, RefusesOtherSchemesAndBrokenSyntax) {
  EXPECT_FALSE(parse("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(parse("DigestX username=\"a\""));
  EXPECT_FALSE(parse(""));
  EXPECT_FALSE(parse("Digest username=\"unbalanced"));
  EXPECT_FALSE(parse("Digest username=\"a\\"));              // escape at the end
  EXPECT_FALSE(parse("Digest username"));                    // no =
  EXPECT_FALSE(parse("Digest username=, realm=\"r\""));      // no value
  EXPECT_FALSE(parse("Digest username=\"a\" realm=\"r\""));  // no comma
  EXPECT_FALSE(parse("Digest =\"a\""));
  EXPECT_FALSE(parse("Digest username=\"a\", username=\"b\""));  // twice: refused, not chosen
  EXPECT_FALSE(parse("Digest username=a\"b\""));
}

TEST(Digest, ChallengeText) {
  EXPECT_EQ(challenge(Algorithm::kSha256, "C1.D1.H1", "n0", false),
            "Digest realm=\"C1.D1.H1\", nonce=\"n0\", algorithm=SHA-256, qop=\"auth\"");
  EXPECT_EQ(
      challenge(Algorithm::kMd5, "C1.D1.H1", "n0", true, "op"),
      "Digest realm=\"C1.D1.H1\", nonce=\"n0\", algorithm=MD5, qop=\"auth\", stale=true, opaque=\"op\"");
  const auto back = parse(challenge(Algorithm::kMd5, "r\"x", "n", true));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->realm, "r\"x");
  EXPECT_TRUE(back->stale);
}

TEST(Digest, ClientAuthorizationIsVerifiedByResponse) {
  for (const Algorithm algorithm : {Algorithm::kMd5, Algorithm::kSha256}) {
    const auto ch = parse(challenge(algorithm, "C1.D1.H1", "nonce-1", false, "opq"));
    ASSERT_TRUE(ch);
    const auto value = authorization(*ch, "U1", "secret", "REGISTER", "sip:C1.D1.H1", "cn", 26);
    ASSERT_TRUE(value);
    const auto c = parse(*value);
    ASSERT_TRUE(c) << *value;
    EXPECT_EQ(c->username, "U1");
    EXPECT_EQ(c->realm, "C1.D1.H1");
    EXPECT_EQ(c->nonce, "nonce-1");
    EXPECT_EQ(c->uri, "sip:C1.D1.H1");
    EXPECT_EQ(c->qop, "auth");
    EXPECT_EQ(c->nc, "0000001a");
    EXPECT_EQ(c->cnonce, "cn");
    EXPECT_EQ(c->opaque, "opq");
    EXPECT_EQ(parse_algorithm(c->algorithm), algorithm);
    const std::string h = ha1(algorithm, "U1", "C1.D1.H1", "secret");
    EXPECT_TRUE(equal_constant_time(response(algorithm, h, "REGISTER", *c), c->response));
    const std::string wrong = ha1(algorithm, "U1", "C1.D1.H1", "Secret");
    EXPECT_FALSE(equal_constant_time(response(algorithm, wrong, "REGISTER", *c), c->response));
    EXPECT_FALSE(equal_constant_time(response(algorithm, h, "INVITE", *c), c->response));
  }
}

TEST(Digest, ClientRefusesWhatItCannotDo) {
  DigestParams ch;
  ch.realm = "r";
  ch.nonce = "n";
  ch.algorithm = "MD5-sess";
  EXPECT_FALSE(authorization(ch, "u", "p", "REGISTER", "sip:r", "c", 1));
  ch.algorithm = "";
  ch.qop = "auth-int";
  EXPECT_FALSE(authorization(ch, "u", "p", "REGISTER", "sip:r", "c", 1));
  ch.qop = "";  // RFC 2069: no qop, no cnonce, MD5 by default
  const auto value = authorization(ch, "u", "p", "REGISTER", "sip:r", "c", 1);
  ASSERT_TRUE(value);
  const auto c = parse(*value);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->qop, "");
  EXPECT_EQ(c->nc, "");
  EXPECT_EQ(c->algorithm, "MD5");
  EXPECT_EQ(c->response, response(Algorithm::kMd5, ha1(Algorithm::kMd5, "u", "r", "p"), "REGISTER", *c));
}

TEST(Digest, ConstantTimeEquality) {
  EXPECT_TRUE(equal_constant_time("", ""));
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "abcd"));
}

TEST(Digest, NoncesValidStaleForgedOtherRealmTampered) {
  const NonceFactory factory(std::string(32, 'k'));
  const int64_t now = 1'800'000'000;
  const std::string nonce = factory.make("C1.D1.H1", now);
  EXPECT_EQ(nonce.size(), 32u);  // 24 bytes, base64url without padding
  EXPECT_EQ(nonce.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  int64_t issued = 0;
  EXPECT_EQ(factory.check(nonce, "C1.D1.H1", now + 10, 300, &issued), NonceFactory::Check::kValid);
  EXPECT_EQ(issued, now);
  EXPECT_EQ(factory.check(nonce, "C1.D1.H1", now + 300, 300), NonceFactory::Check::kValid);
  issued = 0;
  EXPECT_EQ(factory.check(nonce, "C1.D1.H1", now + 301, 300, &issued), NonceFactory::Check::kStale);
  EXPECT_EQ(issued, now);
  EXPECT_EQ(factory.check(nonce, "C1.D1.H1", now - 5, 300), NonceFactory::Check::kValid);
  EXPECT_EQ(factory.check(nonce, "C1.D1.H1", now - 6, 300), NonceFactory::Check::kStale);  // from the future

  // Another secret (a different server, or a forger), another realm, a tampered byte, garbage.
  EXPECT_EQ(NonceFactory(std::string(32, 'x')).check(nonce, "C1.D1.H1", now, 300),
            NonceFactory::Check::kForged);
  EXPECT_EQ(factory.check(nonce, "C1.D1.H2", now, 300), NonceFactory::Check::kForged);
  std::string tampered = nonce;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';  // the time: the MAC no longer matches
  EXPECT_EQ(factory.check(tampered, "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
  tampered = nonce;
  tampered[20] = tampered[20] == 'A' ? 'B' : 'A';  // the MAC
  EXPECT_EQ(factory.check(tampered, "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
  EXPECT_EQ(factory.check("", "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
  EXPECT_EQ(factory.check(nonce + "A", "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
  EXPECT_EQ(factory.check(nonce.substr(1), "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
  EXPECT_EQ(factory.check(std::string(32, '*'), "C1.D1.H1", now, 300), NonceFactory::Check::kForged);

  // The same secret in another process (a restart) validates it.
  EXPECT_EQ(NonceFactory(std::string(32, 'k')).check(nonce, "C1.D1.H1", now, 300),
            NonceFactory::Check::kValid);
  EXPECT_NE(factory.make("C1.D1.H1", now + 1), nonce);
}

TEST(Digest, SaltedNoncesDifferWithinASecondAndCheckAlike) {
  const NonceFactory factory(std::string(32, 'k'));
  const int64_t now = 1'800'000'000;
  const std::string a = factory.make("C1.D1.H1", now, 1);
  const std::string b = factory.make("C1.D1.H1", now, 2);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 43u);  // 32 bytes, base64url without padding
  int64_t issued = 0;
  EXPECT_EQ(factory.check(a, "C1.D1.H1", now, 300, &issued), NonceFactory::Check::kValid);
  EXPECT_EQ(issued, now);
  EXPECT_EQ(factory.check(b, "C1.D1.H1", now + 301, 300), NonceFactory::Check::kStale);
  EXPECT_EQ(factory.check(a, "C1.D1.H2", now, 300), NonceFactory::Check::kForged);
  EXPECT_EQ(NonceFactory(std::string(32, 'x')).check(a, "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
  std::string tampered = a;
  tampered[12] = tampered[12] == 'A' ? 'B' : 'A';  // the salt: the MAC no longer matches
  EXPECT_EQ(factory.check(tampered, "C1.D1.H1", now, 300), NonceFactory::Check::kForged);
}
