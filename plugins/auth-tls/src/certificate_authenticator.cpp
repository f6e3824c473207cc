#include "certificate_authenticator.hpp"

#include <algorithm>
#include <cctype>

#include "homesip/attributes.hpp"
#include "homesip/reply.hpp"
#include "homesip/uri.hpp"

namespace homesip::auth_tls {
namespace {

std::string_view domain_of(std::string_view aor) { return aor.substr(aor.rfind('@') + 1); }

}  // namespace

bool same_aor(std::string_view a, std::string_view b) {
  const size_t at_a = a.rfind('@'), at_b = b.rfind('@');
  if (at_a == std::string_view::npos || at_b == std::string_view::npos) return false;
  return a.substr(0, at_a) == b.substr(0, at_b) && uri_detail::iequals(a.substr(at_a), b.substr(at_b));
}

std::vector<std::string> certificate_aors(const std::vector<std::string>& names) {
  std::vector<std::string> aors;
  for (const std::string& name : names) {
    // A bare "H1@C1.D1" reads as the sip: URI it stands for; a sips: URI
    // names no identity (RFC 5922 7.1: only sip: URIs are certificate subjects).
    const bool has_scheme = name.find(':') != std::string::npos;
    if (!has_scheme && name.find('@') == std::string::npos) continue;  // a DNS name or an IP address
    const std::string text = has_scheme ? name : "sip:" + name;        // the view below points into it
    const auto uri = parse_uri(text);
    if (!uri || uri->scheme != "sip" || uri->user.empty()) continue;
    aors.push_back(aor_of(*uri));
  }
  return aors;
}

Disposition CertificateAuthenticator::on_request(IncomingRequest& incoming) {
  if (incoming.attributes().get(kAuthenticatedIdentity)) return Disposition::kContinue;
  const SipRequest& request = incoming.request();
  const auto names = request.peer_certificate_names();
  if (names.empty()) return Disposition::kContinue;
  const auto aors = certificate_aors(names);
  if (aors.empty()) return Disposition::kContinue;  // a server certificate naming only hosts
  if (request.method() != Method::kRegister) return identify(incoming, aors.front());
  const std::string to = aor_of(request.to_uri());
  if (std::any_of(aors.begin(), aors.end(), [&](const std::string& aor) { return same_aor(aor, to); }))
    return identify(incoming, to);
  // One may register only oneself: a certificate is an identity, and this
  // one is another's. Refused, not challenged: a password would not change
  // who the connection is.
  metrics_.failed.add();
  log_.info(refusal_text(request.method_name(), to, request.source().text(), 403,
                         "certificate names another AOR (" + log_safe(aors.front()) + ")"));
  incoming.reply(Reply(403, "Certificate Names Another AOR"));
  return Disposition::kHandled;
}

Disposition CertificateAuthenticator::identify(IncomingRequest& incoming, const std::string& aor) {
  if (!users_) {
    set_identity(incoming.attributes(), aor, role_);
    return Disposition::kContinue;
  }
  std::shared_ptr<SuspendedRequest> suspended = incoming.suspend();
  users_->find_user(aor, [this, suspended, aor](StoreStatus status, const std::optional<UserRecord>& user) {
    if (status != StoreStatus::kOk) {
      Reply reply(503, "User Store Unavailable");
      reply.header("Retry-After", "5");
      return suspended->reply(reply);
    }
    // A user has its own role (none given: none, as under digest), never the server's.
    set_identity(suspended->attributes(), aor, user ? user->role : role_);
    suspended->resume();
  });
  return Disposition::kSuspended;
}

void CertificateAuthenticator::set_identity(Attributes& attributes, const std::string& aor,
                                            const std::string& role) const {
  metrics_.ok.add();
  attributes.set(kAuthenticatedIdentity,
                 AuthenticatedIdentity{aor, std::string(domain_of(aor)), role, "tls-certificate"});
}

}  // namespace homesip::auth_tls
