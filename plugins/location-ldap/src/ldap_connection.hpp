// One connection to the directory with libldap's synchronous calls, each
// bounded by the configured timeout. Used on the store's worker thread only
// (and by tests and tools); never on the event loop.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ldap_options.hpp"

typedef struct ldap LDAP;

namespace homesip::location_ldap {

// The directory could not be reached or answered an operation with an error
// the caller does not handle.
class LdapError : public std::runtime_error {
 public:
  LdapError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }
  // Down, unreachable, too slow or overloaded: try again later (503), and
  // the connection is no longer usable.
  bool unavailable() const;

 private:
  int code_;
};

struct LdapEntry {
  std::string dn;
  // Attribute names in lower case.
  std::map<std::string, std::vector<std::string>> attributes;
  const std::vector<std::string>& values(const std::string& lower_name) const;
  std::string first(const std::string& lower_name) const;  // "" when absent
};

using LdapAttributes = std::vector<std::pair<std::string, std::vector<std::string>>>;

enum class Scope { kBase, kOneLevel, kSubtree };

class LdapConnection {
 public:
  // Connects, negotiates TLS when configured and binds. Throws LdapError.
  explicit LdapConnection(const LdapOptions& options);
  ~LdapConnection();
  LdapConnection(const LdapConnection&) = delete;
  LdapConnection& operator=(const LdapConnection&) = delete;

  // Entries found; none when `base` does not exist. Throws LdapError.
  std::vector<LdapEntry> search(const std::string& base, Scope scope, const std::string& filter,
                                const std::vector<std::string>& attributes);

  // These return the LDAP result code (LDAP_SUCCESS, LDAP_ALREADY_EXISTS,
  // LDAP_NO_SUCH_OBJECT, LDAP_ASSERTION_FAILED, ...) and throw LdapError
  // only when the directory is unavailable. `assertion`, when not empty, is
  // a filter the entry must match for the change to apply (RFC 4528).
  int add(const std::string& dn, const LdapAttributes& attributes);
  int replace(const std::string& dn, const LdapAttributes& attributes, const std::string& assertion);
  int remove(const std::string& dn, const std::string& assertion);

  // The text of the last result code, for logs.
  static std::string describe(int code);

 private:
  void check_available(int code, const char* operation);

  LdapOptions options_;
  LDAP* ld_ = nullptr;
};

}  // namespace homesip::location_ldap
