// A real OpenLDAP slapd for the tests: Debian's /usr/sbin/slapd in a temp
// dir, cn=config built with `slapadd -n0` from an LDIF generated here (mdb
// backend, core + homesip schema), listening on a free loopback port and on
// an ldapi socket; stopped by PID. Optionally one of a mirror-mode pair.
// Optionally with TLS: a throwaway CA and a server certificate for
// 127.0.0.1/localhost made with the openssl CLI in the temp dir, StartTLS on
// the ldap:// port and ldaps:// on a second free port.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ldap_options.hpp"
#include "test_support.hpp"

namespace homesip::location_ldap::testing {

inline constexpr const char* kBaseDn = "o=homesip";
inline constexpr const char* kAdminDn = "cn=admin,o=homesip";
inline constexpr const char* kAdminPassword = "secret";

struct SlapdOptions {
  uint16_t port = 0;  // 0: a free one
  // Mirror mode: this server's id (1..) and the other member's port.
  int server_id = 0;
  uint16_t mirror_peer_port = 0;
  // Load o=homesip, ou=bindings, ou=users and the example user at creation.
  bool load_base = true;
  // TLS: generate a CA and a server certificate, configure slapd with them
  // (olcTLS*), and listen on ldaps://127.0.0.1:tls_port/ too.
  bool tls = false;
  uint16_t tls_port = 0;  // 0: a free one (with tls)
  // Refuse every operation on a connection without a security layer
  // (olcSecurity: ssf=1): only TLS or ldapi get anywhere. The fixture's own
  // ldapsearch/ldapmodify then go over ldapi.
  bool require_security = false;
};

// A certificate authority made with the openssl CLI (EC P-256, valid for two
// days) in `dir`, with files <name>-ca.pem and <name>-ca.key.
struct TestCa {
  std::filesystem::path cert;
  std::filesystem::path key;
};
TestCa make_test_ca(const std::filesystem::path& dir, const std::string& name);
// A server certificate signed by `ca` for IP:127.0.0.1 and DNS:localhost:
// <name>.pem and <name>.key (mode 0600) in `dir`.
struct TestCert {
  std::filesystem::path cert;
  std::filesystem::path key;
};
TestCert make_server_cert(const std::filesystem::path& dir, const std::string& name, const TestCa& ca);

class Slapd {
 public:
  explicit Slapd(SlapdOptions options = {});
  ~Slapd();
  Slapd(const Slapd&) = delete;
  Slapd& operator=(const Slapd&) = delete;

  void start();  // (re)starts on the same port and data; waits until it answers
  void stop();   // SIGTERM, wait
  void kill9();
  void pause();   // SIGSTOP: a directory that accepts connections and never answers
  void resume();  // SIGCONT
  bool running() const { return process_ != nullptr; }

  uint16_t port() const { return options_.port; }
  std::string uri() const;
  std::string ldapi_uri() const;
  // With tls only: ldaps://127.0.0.1:tls_port and the CA that signed the server's certificate.
  uint16_t tls_port() const { return options_.tls_port; }
  std::string ldaps_uri() const;
  const std::filesystem::path& ca_file() const { return ca_.cert; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  // Options for a store bound as the directory's admin.
  LdapOptions store_options(const std::string& bindings_dn = "") const;

  // ldapsearch -LLL as admin under the base; returns the LDIF text.
  std::string search(const std::string& filter, const std::vector<std::string>& attributes = {},
                     const std::string& base = kBaseDn) const;
  // ldapadd / ldapmodify as admin; returns the exit code.
  int modify(const std::string& ldif, bool add) const;

 private:
  bool wait_ready(std::chrono::milliseconds timeout) const;
  // Where the fixture's own ldapsearch/ldapmodify go: ldapi when clear text is refused.
  std::string admin_uri() const;

  SlapdOptions options_;
  homesip::test::TempDir dir_;
  TestCa ca_;
  std::unique_ptr<homesip::test::Process> process_;
};

}  // namespace homesip::location_ldap::testing
