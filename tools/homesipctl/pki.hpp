// homesipctl pki: a small certificate authority for a homesip tree, with the
// OpenSSL C API (no openssl command). `init DIR` makes the CA; `issue DIR
// NAME@DOMAIN` one server's certificate in the layout server.tls_certificates
// reads (agent.pem, cafile.pem).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace homesip::pki {

// Something the user can fix (an existing CA, a bad address, a file that
// cannot be written): the message says what.
struct PkiError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr int kCaDays = 3650;     // 10 years
inline constexpr int kServerDays = 730;  // 2 years

// DIR/ca.key (EC P-256, mode 0600) and DIR/cafile.pem (the self-signed CA
// certificate). DIR is made (0700) when missing; an existing CA is kept:
// PkiError.
void init_ca(const std::filesystem::path& dir);

struct IssueRequest {
  std::filesystem::path ca_dir;
  std::string aor;               // NAME@DOMAIN, e.g. H1@C1.D1: SAN URI sip:H1@C1.D1
  std::vector<std::string> ips;  // SAN IP entries, and URI sip:IP for sofia-sip (see the .cpp)
  std::vector<std::string> dns;  // SAN DNS entries
  std::filesystem::path out;     // empty: CA_DIR/NAME@DOMAIN
  // A user's terminal (homesip-ua answer --listen tls:): the certificate
  // names only its hosts, never the AOR, so that no server takes it for a
  // server of the tree (auth-tls); the user proves who it is by password.
  bool user = false;
};

// Writes OUT/agent.pem (the new key, mode 0600, then the certificate and the
// CA's) and OUT/cafile.pem (the CA certificate). Returns OUT.
std::filesystem::path issue(const IssueRequest& request);

}  // namespace homesip::pki
