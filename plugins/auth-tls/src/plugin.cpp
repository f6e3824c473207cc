// The auth-tls plugin: settings, descriptor and wiring; the handler is in
// certificate_authenticator.cpp. The certificate itself is verified by the
// core (server.tls_verify_clients, cafile.pem); this plugin only reads the
// names the core hands on.
#include "homesip/plugin.hpp"

#include <optional>
#include <set>
#include <string>

#include "certificate_authenticator.hpp"
#include "homesip/user_store.hpp"

namespace {

using homesip::auth_tls::CertificateAuthenticator;

const homesip::SettingSpec kSettings[] = {
    {"role", homesip::SettingType::kString, "server",
     "the role of an AOR identified by its certificate (server, owner, member or guest), unless it is a user "
     "of this server's user store: then the store's role"},
};
// The user store, when the server has one: a certificate of one of its users gives the user's role.
const char* const kUses[] = {homesip::UserStore::kServiceName};
const homesip::MetricSpec kMetrics[] = {
    {"auth_ok_total", homesip::MetricType::kCounter, "requests identified by their client certificate"},
    {"auth_failed_total", homesip::MetricType::kCounter,
     "REGISTERs refused because the certificate names another AOR (logged)"},
};

void check_settings(const homesip::Settings& s) {
  static const std::set<std::string> kRoles{"server", "owner", "member", "guest"};
  const std::string role = s.get_string("role");
  if (!kRoles.count(role))
    throw homesip::ConfigError("role", "role must be server, owner, member or guest, not '" + role + "'");
}

class AuthTlsPlugin final : public homesip::Plugin {
 public:
  explicit AuthTlsPlugin(homesip::PluginContext& context) {
    check_settings(context.settings());
    authenticator_.emplace(context.logger(), context.settings().get_string("role"),
                           homesip::auth_tls::CertificateMetrics{context.counter("auth_ok_total"),
                                                                 context.counter("auth_failed_total")},
                           context.find<homesip::UserStore>());
    // Order -10: before auth-digest (order 0), so a child with its
    // certificate is not challenged for a password.
    context.add_request_handler(*authenticator_, {homesip::Phase::kAuthenticate, -10, "auth-tls"});
  }

 private:
  std::optional<CertificateAuthenticator> authenticator_;
};

}  // namespace

HOMESIP_PLUGIN(AuthTlsPlugin, .name = "auth-tls", .version = "1.0.0",
               .summary = "Mutual TLS: a verified client certificate naming an AOR authenticates it",
               .settings = kSettings, .uses = kUses, .metrics = kMetrics, .check_settings = &check_settings)
