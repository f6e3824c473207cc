#include "ldap_options.hpp"

#include <ldap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace homesip::location_ldap {
namespace {

// The first line of a regular file no one but its owner may read or write
// (the tree plugin's password_file has the same rule).
std::string password_from_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw ConfigError("password_file", "cannot read password_file '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    throw ConfigError("password_file", "password_file '" + path + "' is not a file");
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(info.st_mode & 0777));
    throw ConfigError("password_file", "password_file '" + path + "' is open to group or others (mode " +
                                           mode + "): chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) throw ConfigError("password_file", "cannot read password_file '" + path + "'");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

// A DN as libldap reads it ("ou=users,o=homesip"); "" passes (not given).
void check_dn(const char* key, const std::string& dn) {
  if (dn.empty()) return;
  LDAPDN parsed = nullptr;
  const int result = ldap_str2dn(dn.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3);
  if (parsed) ldap_dnfree(parsed);
  if (result != LDAP_SUCCESS)
    throw ConfigError(key, std::string(key) + " must be a DN such as o=homesip, not '" + dn + "'");
}

void check_readable_file(const char* key, const std::string& path) {
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in)
    throw ConfigError(key, std::string(key) + " '" + path + "' cannot be read: " + std::strerror(errno));
}

}  // namespace

void complete(LdapOptions& options) {
  if (options.bindings_dn.empty()) options.bindings_dn = "ou=bindings," + options.base_dn;
  if (options.users_dn.empty()) options.users_dn = "ou=users," + options.base_dn;
}

LdapOptions read_settings(const Settings& settings) {
  LdapOptions o;
  o.uri = settings.get_string("uri");
  const bool known_scheme =
      o.uri.starts_with("ldap://") || o.uri.starts_with("ldaps://") || o.uri.starts_with("ldapi://");
  LDAPURLDesc* url = nullptr;
  const bool parses = ldap_url_parse(o.uri.c_str(), &url) == LDAP_URL_SUCCESS;
  if (url) ldap_free_urldesc(url);
  if (!known_scheme || !parses)
    throw ConfigError("uri", "uri must be an ldap://, ldaps:// or ldapi:// URL, not '" + o.uri + "'");
  o.base_dn = settings.get_string("base_dn");
  if (o.base_dn.empty())
    throw ConfigError("base_dn", "base_dn must name the entry under which homesip's entries live");
  check_dn("base_dn", o.base_dn);
  o.bindings_dn = settings.get_string("bindings_dn");
  check_dn("bindings_dn", o.bindings_dn);
  o.users_dn = settings.get_string("users_dn");
  check_dn("users_dn", o.users_dn);
  o.bind_dn = settings.get_string("bind_dn");
  check_dn("bind_dn", o.bind_dn);
  o.bind_password = settings.get_string("bind_password");
  const std::string password_file = settings.get_string("password_file");
  if (!password_file.empty()) {
    if (!o.bind_password.empty())
      throw ConfigError("password_file", "give bind_password or password_file, not both");
    o.bind_password = password_from_file(password_file);
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
  check_readable_file("tls_ca_file", o.tls_ca_file);
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
