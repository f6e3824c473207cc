// The auth-tls handler: a request that came over TLS with a client
// certificate the core verified against its cafile.pem, and that names an
// AOR (SAN URI "sip:H1@C1.D1"), is from that AOR. Mutual TLS between the
// tiers: a child server registers at its parent without a password.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "homesip/admin.hpp"
#include "homesip/handler.hpp"
#include "homesip/log.hpp"
#include "homesip/user_store.hpp"

namespace homesip::auth_tls {

struct CertificateMetrics {
  Counter ok;      // requests identified by their certificate
  Counter failed;  // REGISTERs refused: the certificate names another AOR
};

// The AORs a certificate's names hold, as written: "sip:H1@C1.D1" and
// "H1@C1.D1" name H1@C1.D1; DNS names, IP addresses and sips: URIs name none.
std::vector<std::string> certificate_aors(const std::vector<std::string>& names);

// Whether two "user@host" AORs are the same: the user exactly, the host
// case-insensitively (RFC 3261 19.1.4).
bool same_aor(std::string_view a, std::string_view b);

class CertificateAuthenticator final : public RequestHandler {
 public:
  // `users`: this server's user store, when it has one (may be null).
  CertificateAuthenticator(Logger& log, std::string role, CertificateMetrics metrics, UserStore* users)
      : log_(log), role_(std::move(role)), metrics_(metrics), users_(users) {}

  // Already identified (another authenticator ran first): continue. A
  // REGISTER whose To AOR the certificate names, or any other request with a
  // certificate naming an AOR: identified, continue. A REGISTER whose
  // certificate names other AORs only: 403. No certificate: continue
  // (auth-digest challenges). The role: a user of this server's store has
  // the store's (a phone's certificate makes it no server of the tree), any
  // other AOR the `role` setting's.
  Disposition on_request(IncomingRequest& incoming) override;

 private:
  Disposition identify(IncomingRequest& incoming, const std::string& aor);
  void set_identity(Attributes& attributes, const std::string& aor, const std::string& role) const;

  Logger& log_;
  std::string role_;
  CertificateMetrics metrics_;
  UserStore* users_;
};

}  // namespace homesip::auth_tls
