#include "ldap_connection.hpp"

#include <ldap.h>
#include <sys/time.h>

namespace homesip::location_ldap {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// LDAPMod arrays pointing into `attributes`, which must outlive them.
class ModList {
 public:
  ModList(const LdapAttributes& attributes, int op) {
    mods_.reserve(attributes.size());
    values_.reserve(attributes.size());
    for (const auto& [name, values] : attributes) {
      std::vector<char*> pointers;
      for (const std::string& value : values) pointers.push_back(const_cast<char*>(value.c_str()));
      pointers.push_back(nullptr);
      values_.push_back(std::move(pointers));
      LDAPMod mod{};
      mod.mod_op = op;
      mod.mod_type = const_cast<char*>(name.c_str());
      mod.mod_values = values_.back().data();
      mods_.push_back(mod);
    }
    for (LDAPMod& mod : mods_) pointers_.push_back(&mod);
    pointers_.push_back(nullptr);
  }
  LDAPMod** get() { return pointers_.data(); }

 private:
  std::vector<std::vector<char*>> values_;
  std::vector<LDAPMod> mods_;
  std::vector<LDAPMod*> pointers_;
};

// The assertion control for `filter` (none when empty).
class Assertion {
 public:
  Assertion(LDAP* ld, const std::string& filter) {
    if (filter.empty()) return;
    const int rc = ldap_create_assertion_control(ld, const_cast<char*>(filter.c_str()), 1, &control_);
    if (rc != LDAP_SUCCESS) throw LdapError(rc, "assertion control: " + LdapConnection::describe(rc));
    controls_[0] = control_;
  }
  ~Assertion() {
    if (control_) ldap_control_free(control_);
  }
  LDAPControl** get() { return control_ ? controls_ : nullptr; }

 private:
  LDAPControl* control_ = nullptr;
  LDAPControl* controls_[2] = {nullptr, nullptr};
};

std::string lower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

}  // namespace

bool LdapError::unavailable() const {
  return code_ == LDAP_SERVER_DOWN || code_ == LDAP_TIMEOUT || code_ == LDAP_CONNECT_ERROR ||
         code_ == LDAP_UNAVAILABLE || code_ == LDAP_BUSY || code_ == LDAP_TIMELIMIT_EXCEEDED ||
         code_ == LDAP_LOCAL_ERROR || code_ == LDAP_NO_MEMORY || code_ == LDAP_ENCODING_ERROR ||
         code_ == LDAP_DECODING_ERROR || code_ == LDAP_OTHER || code_ == LDAP_ADMINLIMIT_EXCEEDED;
}

const std::vector<std::string>& LdapEntry::values(const std::string& lower_name) const {
  static const std::vector<std::string> kNone;
  const auto found = attributes.find(lower_name);
  return found == attributes.end() ? kNone : found->second;
}

std::string LdapEntry::first(const std::string& lower_name) const {
  const auto& all = values(lower_name);
  return all.empty() ? std::string() : all.front();
}

std::string LdapConnection::describe(int code) { return ldap_err2string(code); }

LdapConnection::LdapConnection(const LdapOptions& options) : options_(options) {
  int rc = ldap_initialize(&ld_, options_.uri.c_str());
  if (rc != LDAP_SUCCESS)
    throw LdapError(LDAP_CONNECT_ERROR, "ldap_initialize(" + options_.uri + "): " + describe(rc));
  const int version = LDAP_VERSION3;
  ldap_set_option(ld_, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld_, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  const timeval timeout = to_timeval(options_.timeout);
  ldap_set_option(ld_, LDAP_OPT_NETWORK_TIMEOUT, &timeout);
  ldap_set_option(ld_, LDAP_OPT_TIMEOUT, &timeout);
  const bool tls = options_.starttls || options_.uri.starts_with("ldaps://");
  // What libldap said about the last failure on this handle: for TLS the
  // reason of a failed handshake (absent when the TCP connect itself failed).
  const auto diagnostic = [this]() -> std::string {
    char* message = nullptr;
    ldap_get_option(ld_, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message);
    std::string text = message ? message : "";
    if (message) ldap_memfree(message);
    return text;
  };
  // Appended to the error of a failed StartTLS or bind: libldap's reason,
  // for a client-side failure (code < 0) with a hint about the usual causes.
  const auto tls_failure = [&](int code) -> std::string {
    const std::string why = diagnostic();
    if (!tls || why.empty()) return std::string();
    if (code > 0) return " (" + why + ")";  // the directory's own words
    return " (TLS failed: " + why + "; is the directory's certificate signed by " +
           (options_.tls_ca_file.empty() ? std::string("the system's CAs") : options_.tls_ca_file) +
           " and issued for the host in the URI?)";
  };
  const auto fail = [this](int code, const std::string& what) {
    ldap_unbind_ext_s(ld_, nullptr, nullptr);
    ld_ = nullptr;
    throw LdapError(code, what);
  };
  if (tls) {
    // The TLS options go on this handle and take effect with a context of
    // its own (NEWCTX). Should that context fail (unreadable CA file),
    // libldap would silently use its global default context instead
    // (ldap.conf's CAs and TLS_REQCERT): never go on without the trust
    // configured here.
    const auto tls_option = [&](int option, const void* value, const std::string& what) {
      const int code = ldap_set_option(ld_, option, value);
      if (code != LDAP_OPT_SUCCESS) {
        const std::string why = diagnostic();
        fail(LDAP_CONNECT_ERROR, "TLS setup for " + options_.uri + " failed: " + what +
                                     (why.empty() ? std::string() : ": " + why));
      }
    };
    if (!options_.tls_ca_file.empty())
      tls_option(LDAP_OPT_X_TLS_CACERTFILE, options_.tls_ca_file.c_str(),
                 "tls_ca_file " + options_.tls_ca_file);
    const int require = options_.tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
    tls_option(LDAP_OPT_X_TLS_REQUIRE_CERT, &require, "tls_verify");
    const int is_server = 0;
    tls_option(LDAP_OPT_X_TLS_NEWCTX, &is_server,
               options_.tls_ca_file.empty() ? std::string("no TLS context with the system's CAs")
                                            : "cannot load tls_ca_file " + options_.tls_ca_file);
  }
  if (options_.starttls) {
    rc = ldap_start_tls_s(ld_, nullptr, nullptr);
    // A directory that refuses TLS is as good as down for us: never fall back to clear text.
    if (rc != LDAP_SUCCESS)
      fail(LDAP_CONNECT_ERROR,
           "StartTLS with " + options_.uri + " failed: " + describe(rc) + tls_failure(rc));
  }
  berval credentials{};
  if (!options_.sasl_mech.empty()) {
    // EXTERNAL: the identity is the connection's (ldapi peer credentials or
    // a TLS client certificate); the one message carries an empty authzid.
    static char kEmpty[] = "";
    credentials.bv_val = kEmpty;
    for (int step = 0; step < 3; ++step) {
      berval* server_credentials = nullptr;
      rc = ldap_sasl_bind_s(ld_, nullptr, options_.sasl_mech.c_str(), &credentials, nullptr, nullptr,
                            &server_credentials);
      if (server_credentials) ber_bvfree(server_credentials);
      if (rc != LDAP_SASL_BIND_IN_PROGRESS) break;
    }
  } else {
    credentials.bv_val = const_cast<char*>(options_.bind_password.c_str());
    credentials.bv_len = options_.bind_password.size();
    rc = ldap_sasl_bind_s(ld_, options_.bind_dn.empty() ? nullptr : options_.bind_dn.c_str(),
                          LDAP_SASL_SIMPLE, &credentials, nullptr, nullptr, nullptr);
  }
  if (rc != LDAP_SUCCESS) {
    const std::string who = options_.sasl_mech.empty()
                                ? (options_.bind_dn.empty() ? std::string("anonymous") : options_.bind_dn)
                                : "SASL " + options_.sasl_mech;
    // A refused bind (wrong password) is reported like an outage: the store
    // keeps retrying with backoff, which also covers a directory that is
    // still starting up.
    fail(rc < 0 ? rc : LDAP_UNAVAILABLE,
         "bind to " + options_.uri + " as " + who + ": " + describe(rc) + (rc < 0 ? tls_failure(rc) : ""));
  }
}

LdapConnection::~LdapConnection() {
  if (ld_) ldap_unbind_ext_s(ld_, nullptr, nullptr);
}

void LdapConnection::check_available(int code, const char* operation) {
  LdapError error(code, std::string(operation) + ": " + describe(code));
  if (code < 0 || error.unavailable()) throw error;
}

std::vector<LdapEntry> LdapConnection::search(const std::string& base, Scope scope, const std::string& filter,
                                              const std::vector<std::string>& attributes) {
  std::vector<char*> names;
  for (const std::string& name : attributes) names.push_back(const_cast<char*>(name.c_str()));
  names.push_back(nullptr);
  const int ldap_scope = scope == Scope::kBase       ? LDAP_SCOPE_BASE
                         : scope == Scope::kOneLevel ? LDAP_SCOPE_ONELEVEL
                                                     : LDAP_SCOPE_SUBTREE;
  timeval timeout = to_timeval(options_.timeout);
  LDAPMessage* result = nullptr;
  const int rc = ldap_search_ext_s(ld_, base.c_str(), ldap_scope, filter.c_str(), names.data(), 0, nullptr,
                                   nullptr, &timeout, LDAP_NO_LIMIT, &result);
  std::vector<LdapEntry> entries;
  if (rc != LDAP_SUCCESS) {
    if (result) ldap_msgfree(result);
    if (rc == LDAP_NO_SUCH_OBJECT) return entries;
    check_available(rc, "search");
    throw LdapError(rc, "search of " + base + " " + filter + ": " + describe(rc));
  }
  for (LDAPMessage* message = ldap_first_entry(ld_, result); message;
       message = ldap_next_entry(ld_, message)) {
    LdapEntry entry;
    if (char* dn = ldap_get_dn(ld_, message)) {
      entry.dn = dn;
      ldap_memfree(dn);
    }
    BerElement* ber = nullptr;
    for (char* name = ldap_first_attribute(ld_, message, &ber); name;
         name = ldap_next_attribute(ld_, message, ber)) {
      std::vector<std::string>& values = entry.attributes[lower(name)];
      if (berval** all = ldap_get_values_len(ld_, message, name)) {
        for (berval** value = all; *value; ++value) values.emplace_back((*value)->bv_val, (*value)->bv_len);
        ldap_value_free_len(all);
      }
      ldap_memfree(name);
    }
    if (ber) ber_free(ber, 0);
    entries.push_back(std::move(entry));
  }
  ldap_msgfree(result);
  return entries;
}

int LdapConnection::add(const std::string& dn, const LdapAttributes& attributes) {
  ModList mods(attributes, LDAP_MOD_ADD);
  const int rc = ldap_add_ext_s(ld_, dn.c_str(), mods.get(), nullptr, nullptr);
  check_available(rc, "add");
  return rc;
}

int LdapConnection::replace(const std::string& dn, const LdapAttributes& attributes,
                            const std::string& assertion) {
  ModList mods(attributes, LDAP_MOD_REPLACE);
  Assertion control(ld_, assertion);
  const int rc = ldap_modify_ext_s(ld_, dn.c_str(), mods.get(), control.get(), nullptr);
  check_available(rc, "modify");
  return rc;
}

int LdapConnection::remove(const std::string& dn, const std::string& assertion) {
  Assertion control(ld_, assertion);
  const int rc = ldap_delete_ext_s(ld_, dn.c_str(), control.get(), nullptr);
  check_available(rc, "delete");
  return rc;
}

}  // namespace homesip::location_ldap
