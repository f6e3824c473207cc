// The plugin's settings: their declaration (validated and printed by the
// core) and their reading into the store's options.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "homesip/settings.hpp"

namespace homesip::location_ldap {

struct LdapOptions {
  std::string uri = "ldap://127.0.0.1:389";  // ldap://, ldaps:// or ldapi://
  std::string base_dn;                       // e.g. o=homesip
  std::string bindings_dn;                   // default ou=bindings,<base_dn>
  std::string users_dn;                      // default ou=users,<base_dn>
  std::string bind_dn;                       // empty: anonymous (or SASL)
  std::string bind_password;
  std::string sasl_mech;  // "" (simple bind) or "EXTERNAL"
  bool starttls = false;
  std::string tls_ca_file;
  bool tls_verify = true;
  // One LDAP operation (or connect) taking longer fails: the directory counts as down.
  std::chrono::milliseconds timeout{2000};
  // How long lookup answers from memory before asking the directory again.
  std::chrono::milliseconds cache{1000};
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
  // Read-modify-write retries when another writer changed the entry meanwhile.
  int conflict_retries = 16;
};

inline constexpr SettingSpec kLocationLdapSettings[] = {
    {"uri", SettingType::kString, "ldap://127.0.0.1:389",
     "directory URI: ldap://HOST:PORT, ldaps://HOST:PORT or ldapi://%2Fpath%2Fto%2Fsocket"},
    {"base_dn", SettingType::kString, nullptr, "base DN under which homesip's entries live, e.g. o=homesip"},
    {"bindings_dn", SettingType::kString, "", "container of the binding entries (default ou=bindings,BASE)"},
    {"users_dn", SettingType::kString, "", "container of the user entries (default ou=users,BASE)"},
    {"bind_dn", SettingType::kString, "", "DN for a simple bind (empty: anonymous, or SASL with sasl_mech)"},
    {"bind_password", SettingType::kString, "", "password of bind_dn (prefer password_file)"},
    {"password_file", SettingType::kString, "", "file whose first line is the password of bind_dn"},
    {"sasl_mech", SettingType::kString, "",
     "SASL mechanism instead of a simple bind: EXTERNAL (ldapi peer credentials or a TLS client "
     "certificate)"},
    {"starttls", SettingType::kBoolean, "false",
     "upgrade an ldap:// connection with StartTLS (required when true)"},
    {"tls_ca_file", SettingType::kString, "",
     "CA certificates to verify the directory's certificate (ldaps:// or starttls)"},
    {"tls_verify", SettingType::kBoolean, "true", "refuse a directory certificate that does not verify"},
    {"timeout_ms", SettingType::kInteger, "2000",
     "longest wait for one LDAP operation before the directory counts as down"},
    {"cache_ms", SettingType::kInteger, "1000",
     "how long a lookup is answered from memory before the directory is asked again (0: always ask)"},
    {"reconnect_min_ms", SettingType::kInteger, "500",
     "first reconnect delay after the directory went down (doubles each failure)"},
    {"reconnect_max_ms", SettingType::kInteger, "30000", "longest reconnect delay"},
};

// Reads and checks the declared settings. Throws ConfigError naming the key.
LdapOptions read_settings(const Settings& settings);

// Fills bindings_dn/users_dn from base_dn when empty.
void complete(LdapOptions& options);

}  // namespace homesip::location_ldap
