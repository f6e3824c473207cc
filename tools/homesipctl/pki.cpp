#include "pki.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <memory>

namespace homesip::pki {
namespace {

namespace fs = std::filesystem;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;
using File = std::unique_ptr<FILE, FileClose>;

// OpenSSL's own reason for the last failure, after `what`.
[[noreturn]] void fail(const std::string& what) {
  char reason[256] = "";
  ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
  throw PkiError(what + (reason[0] ? std::string(": ") + reason : ""));
}

Key new_p256_key() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot make an EC P-256 key");
  return key;
}

// A file opened for writing with `mode` from its creation on: a key is never
// readable by others, not even for a moment. An existing file is replaced.
File create_file(const fs::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0 || ::fchmod(fd, mode) != 0) {
    if (fd >= 0) ::close(fd);
    throw PkiError("cannot write " + path.string());
  }
  File file(::fdopen(fd, "w"));
  if (!file) {
    ::close(fd);
    throw PkiError("cannot write " + path.string());
  }
  return file;
}

void finish_file(File file, const fs::path& path) {
  if (std::fflush(file.get()) != 0 || std::ferror(file.get()))
    throw PkiError("cannot write " + path.string());
}

void write_key(FILE* file, EVP_PKEY* key, const fs::path& path) {
  if (PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("cannot write " + path.string());
}

void write_cert(FILE* file, X509* cert, const fs::path& path) {
  if (PEM_write_X509(file, cert) != 1) fail("cannot write " + path.string());
}

// One extension from its openssl.cnf spelling ("critical,CA:TRUE"), with
// `issuer` and `subject` for the key identifiers.
void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (!extension) fail("bad certificate extension " + std::string(OBJ_nid2sn(nid)) + " = " + value);
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) fail("cannot add the extension " + std::string(OBJ_nid2sn(nid)));
}

// A certificate of `key` named CN=`common_name`, valid from an hour ago (a
// clock a little behind still accepts it) for `days`, with a random serial.
Cert new_cert(EVP_PKEY* key, const std::string& common_name, int days) {
  Cert cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) fail("cannot make a certificate");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("no random serial number");
  serial[0] &= 0x7f;  // positive, RFC 5280 4.1.2.2
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_set = number && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert.get()));
  BN_free(number);
  if (!serial_set) fail("cannot set the serial number");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("homesip"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  if (X509_set_pubkey(cert.get(), key) != 1) fail("cannot set the public key");
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) fail("cannot sign the certificate");
}

Key read_key(const fs::path& path) {
  File file(std::fopen(path.c_str(), "r"));
  if (!file) throw PkiError("cannot read " + path.string() + " (run homesipctl pki init first?)");
  Key key(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr));
  if (!key) fail("no private key in " + path.string());
  return key;
}

Cert read_cert(const fs::path& path) {
  File file(std::fopen(path.c_str(), "r"));
  if (!file) throw PkiError("cannot read " + path.string() + " (run homesipctl pki init first?)");
  Cert cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
  if (!cert) fail("no certificate in " + path.string());
  return cert;
}

bool is_ip(const std::string& text) {
  unsigned char address[16];
  return ::inet_pton(AF_INET, text.c_str(), address) == 1 ||
         ::inet_pton(AF_INET6, text.c_str(), address) == 1;
}

bool is_dns_name(const std::string& text) {
  if (text.empty() || text.size() > 253 || text.front() == '.' || text.front() == '-') return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  return true;
}

// NAME@DOMAIN: one '@', both sides DNS-like (H1@C1.D1); or a bare NAME for
// the top server, which has no domain (C1: SAN URI sip:C1).
void check_aor(const std::string& aor) {
  const auto at = aor.find('@');
  if (at == std::string::npos) {
    if (!is_dns_name(aor) || aor.find('.') != std::string::npos)
      throw PkiError("'" + aor + "' is not NAME@DOMAIN (e.g. H1@C1.D1) nor a top server's NAME (C1)");
    return;
  }
  if (at == 0 || aor.find('@', at + 1) != std::string::npos || !is_dns_name(aor.substr(0, at)) ||
      !is_dns_name(aor.substr(at + 1)))
    throw PkiError("'" + aor + "' is not NAME@DOMAIN (e.g. H1@C1.D1) nor a top server's NAME (C1)");
}

// The subjectAltName: the server's AOR (what auth-tls reads), then per IP
// both the IP entry (RFC 5280, what OpenSSL checks) and URI sip:IP, because
// sofia-sip 1.12's outgoing check never reads IP entries and matches the
// host of sips:IP:PORT against DNS entries and user-less sip: URIs only.
std::string subject_alt_names(const IssueRequest& r) {
  std::string names = r.user ? "" : "URI:sip:" + r.aor;
  for (const auto& ip : r.ips) {
    const std::string host = ip.find(':') == std::string::npos ? ip : "[" + ip + "]";
    names += ",IP:" + ip + ",URI:sip:" + host;
  }
  for (const auto& name : r.dns) names += ",DNS:" + name;
  return names.starts_with(",") ? names.substr(1) : names;
}

}  // namespace

void init_ca(const fs::path& dir) {
  const fs::path key_path = dir / "ca.key", cert_path = dir / "cafile.pem";
  std::error_code error;
  if (fs::exists(key_path, error) || fs::exists(cert_path, error))
    throw PkiError("a CA exists in " + dir.string() + " already (ca.key, cafile.pem): kept as it is");
  if (!fs::exists(dir, error)) {
    fs::create_directories(dir, error);
    if (error) throw PkiError("cannot make " + dir.string() + ": " + error.message());
    fs::permissions(dir, fs::perms::owner_all, error);
  }
  Key key = new_p256_key();
  Cert cert = new_cert(key.get(), "homesip CA", kCaDays);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  sign(cert.get(), key.get());
  {
    File file = create_file(key_path, 0600);
    write_key(file.get(), key.get(), key_path);
    finish_file(std::move(file), key_path);
  }
  File file = create_file(cert_path, 0644);
  write_cert(file.get(), cert.get(), cert_path);
  finish_file(std::move(file), cert_path);
}

fs::path issue(const IssueRequest& request) {
  check_aor(request.aor);
  if (request.ips.empty() && request.dns.empty())
    throw PkiError("name the server's address: --ip ADDRESS and/or --dns NAME (what clients connect to)");
  for (const auto& ip : request.ips)
    if (!is_ip(ip)) throw PkiError("--ip '" + ip + "' is not an IPv4 or IPv6 address");
  for (const auto& name : request.dns)
    if (!is_dns_name(name)) throw PkiError("--dns '" + name + "' is not a host name");
  Key ca_key = read_key(request.ca_dir / "ca.key");
  Cert ca_cert = read_cert(request.ca_dir / "cafile.pem");
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1)
    throw PkiError("ca.key and cafile.pem in " + request.ca_dir.string() + " do not belong together");

  Key key = new_p256_key();
  // A user's certificate is named by its first host: its AOR in the CN would
  // be read as an identity too.
  const std::string common_name = !request.user          ? request.aor
                                  : !request.ips.empty() ? request.ips.front()
                                                         : request.dns.front();
  Cert cert = new_cert(key.get(), common_name, kServerDays);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  // serverAuth for its listeners, clientAuth for the connections it opens (mutual TLS).
  add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name, subject_alt_names(request));
  add_extension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  sign(cert.get(), ca_key.get());

  const fs::path out = request.out.empty() ? request.ca_dir / request.aor : request.out;
  std::error_code error;
  if (!fs::exists(out, error)) {
    fs::create_directories(out, error);
    if (error) throw PkiError("cannot make " + out.string() + ": " + error.message());
    fs::permissions(out, fs::perms::owner_all, error);
  }
  const fs::path agent = out / "agent.pem", cafile = out / "cafile.pem";
  {
    File file = create_file(agent, 0600);
    write_key(file.get(), key.get(), agent);
    write_cert(file.get(), cert.get(), agent);
    write_cert(file.get(), ca_cert.get(), agent);
    finish_file(std::move(file), agent);
  }
  File file = create_file(cafile, 0644);
  write_cert(file.get(), ca_cert.get(), cafile);
  finish_file(std::move(file), cafile);
  return out;
}

}  // namespace homesip::pki
