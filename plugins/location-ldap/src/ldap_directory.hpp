// What the store does in the directory, one synchronous step at a time (the
// store runs these on its worker thread): read an AOR's entry, write it back
// guarded by its revision, list a family's AORs, read, list, write and delete users.
//
// Layout (see docs/ldap.md): one entry per AOR,
//   homesipAOR=<aor>,<bindings_dn>  objectClass homesipLocation
//     homesipAOR, homesipDomain, homesipRevision, homesipExpires,
//     homesipBinding (one value per binding, see binding_codec.hpp)
//   homesipAOR=<aor>,<users_dn>     objectClass homesipUser
//     homesipAOR, homesipDomain, homesipRole, homesipHA1 ("<realm>:<hex>", one per realm
//     and algorithm)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "homesip/location_store.hpp"
#include "homesip/user_store.hpp"
#include "ldap_connection.hpp"
#include "ldap_options.hpp"

namespace homesip::location_ldap {

// The directory holds something this version cannot read (or refused a
// write for a reason that is not an outage: schema missing, no access...).
class DirectoryDataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string aor_dn(const LdapOptions& options, std::string_view aor);
std::string user_dn(const LdapOptions& options, std::string_view aor);

struct StoredAor {
  bool exists = false;
  int64_t revision = 0;
  BindingList bindings;  // all values, expired ones too, unsorted
};

// Throws LdapError (unavailable) or DirectoryDataError.
StoredAor read_aor(LdapConnection& connection, const LdapOptions& options, std::string_view aor);

// Creates the bindings container when it is missing (ou=... only). Returns
// false when it is missing and could not be created.
bool ensure_container(LdapConnection& connection, const std::string& dn);

struct UpdateOutcome {
  StoreStatus status = StoreStatus::kError;
  BindingList bindings;  // unexpired, sorted: the list after the update (or the current one)
  std::string error;     // why, when status is not kOk
};

// Read-modify-write of one AOR: reads the entry, runs `edit` on its unexpired
// bindings, writes the result asserting the revision read (so a concurrent
// write by another server makes this one start over, up to
// options.conflict_retries times). Throws LdapError when the directory is
// unavailable; the caller may retry the whole call.
UpdateOutcome apply_update(LdapConnection& connection, const LdapOptions& options, std::string_view aor,
                           const BindingEditor& edit);

// AORs of `domain` with a binding unexpired at `now`, sorted.
std::vector<std::string> list_aors(LdapConnection& connection, const LdapOptions& options,
                                   std::string_view domain, int64_t now);

// How many AORs hold a binding unexpired at `now`, of every domain (the
// directory's, shared by all servers using it). Asks for no attributes:
// homesipExpires is each entry's last expiry. Throws LdapError.
size_t count_aors(LdapConnection& connection, const LdapOptions& options, int64_t now);

// Users (the UserStore): one homesipUser entry per AOR under users_dn, with
// homesipRole and one homesipHA1 "<realm>:<hex>" per realm and algorithm; the
// algorithm is the hex's length (MD5: 32, SHA-256: 64).

// "realm:hex" as a credential; nullopt for a malformed value (skipped on read).
std::optional<UserCredential> parse_ha1_value(std::string_view value);
// The homesipHA1 value of a credential; nullopt when its HA1 does not fit its algorithm.
std::optional<std::string> ha1_value(const UserCredential& credential);

// The user `aor` (its spelling first, then ignoring case), or nullopt.
// Throws LdapError (unavailable).
std::optional<UserRecord> read_user(LdapConnection& connection, const LdapOptions& options,
                                    std::string_view aor);
// Users of `domain` (ignoring case), sorted by AOR.
std::vector<UserRecord> list_users(LdapConnection& connection, const LdapOptions& options,
                                   std::string_view domain);
// Creates or replaces the user's entry. Throws LdapError or DirectoryDataError.
void write_user(LdapConnection& connection, const LdapOptions& options, const UserRecord& user);
// Deletes the user's entry, if any. Throws LdapError or DirectoryDataError.
void delete_user(LdapConnection& connection, const LdapOptions& options, std::string_view aor);

}  // namespace homesip::location_ldap
