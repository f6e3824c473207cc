#include "ldap_options.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

namespace homesip::location_ldap {
namespace {

std::string password_from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("password_file", "cannot read password_file '" + path + "'");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

}  // namespace

void complete(LdapOptions& options) {
  if (options.bindings_dn.empty()) options.bindings_dn = "ou=bindings," + options.base_dn;
  if (options.users_dn.empty()) options.users_dn = "ou=users," + options.base_dn;
}

LdapOptions read_settings(const Settings& settings, PasswordFile password_file_use) {
  LdapOptions o;
  o.uri = settings.get_string("uri");
  const bool known_scheme =
      o.uri.starts_with("ldap://") || o.uri.starts_with("ldaps://") || o.uri.starts_with("ldapi://");
  if (!known_scheme)
    throw ConfigError("uri", "uri must start with ldap://, ldaps:// or ldapi://, not '" + o.uri + "'");
  o.base_dn = settings.get_string("base_dn");
  if (o.base_dn.empty())
    throw ConfigError("base_dn", "base_dn must name the entry under which homesip's entries live");
  o.bindings_dn = settings.get_string("bindings_dn");
  o.users_dn = settings.get_string("users_dn");
  o.bind_dn = settings.get_string("bind_dn");
  o.bind_password = settings.get_string("bind_password");
  const std::string password_file = settings.get_string("password_file");
  if (!password_file.empty()) {
    if (!o.bind_password.empty())
      throw ConfigError("password_file", "give bind_password or password_file, not both");
    if (password_file_use == PasswordFile::kRead) o.bind_password = password_from_file(password_file);
  }
  o.sasl_mech = settings.get_string("sasl_mech");
  std::transform(o.sasl_mech.begin(), o.sasl_mech.end(), o.sasl_mech.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  if (!o.sasl_mech.empty() && o.sasl_mech != "EXTERNAL")
    throw ConfigError("sasl_mech", "sasl_mech must be empty or EXTERNAL, not '" + o.sasl_mech + "'");
  if (!o.sasl_mech.empty() && !o.bind_dn.empty())
    throw ConfigError("sasl_mech",
                      "sasl_mech EXTERNAL takes the identity from the connection: leave bind_dn empty");
  o.starttls = settings.get_bool("starttls");
  if (o.starttls && !o.uri.starts_with("ldap://"))
    throw ConfigError("starttls", "starttls needs an ldap:// uri (ldaps:// is TLS already)");
  o.tls_ca_file = settings.get_string("tls_ca_file");
  o.tls_verify = settings.get_bool("tls_verify");
  o.timeout = std::chrono::milliseconds(integer_in_range(settings, "timeout_ms", 1, 600'000));
  o.cache = std::chrono::milliseconds(integer_in_range(settings, "cache_ms", 0, 3'600'000));
  o.reconnect_min = std::chrono::milliseconds(integer_in_range(settings, "reconnect_min_ms", 1, 600'000));
  o.reconnect_max = std::chrono::milliseconds(integer_in_range(settings, "reconnect_max_ms", 1, 3'600'000));
  if (o.reconnect_max < o.reconnect_min)
    throw ConfigError("reconnect_max_ms", "reconnect_max_ms must not be below reconnect_min_ms");
  complete(o);
  return o;
}

}  // namespace homesip::location_ldap
