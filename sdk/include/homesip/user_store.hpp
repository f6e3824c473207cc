// The user store: who the users (and child servers) of this server's domain
// are, and their digest credentials. A service (services.hpp): the embedded
// SQLite store and the LDAP directory each provide it; authentication,
// authorization and operators' tools require it. Never a plaintext password:
// only HA1 values, per realm and algorithm.
//
// Safe to call from any loop thread; every callback runs on the loop thread
// of the caller, possibly before the call returns.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/location_store.hpp"

namespace homesip {

// Layout frozen with the service's name ("homesip.user-store/1").
struct UserCredential {
  std::string realm;      // "C1.D1.H1"
  std::string algorithm;  // "MD5" or "SHA-256" (RFC 8760)
  std::string ha1;        // lower-case hex H(username:realm:password)
};

struct UserRecord {
  std::string aor;     // "U1@C1.D1.H1", or a child server's "H1@C1.D1"
  std::string domain;  // the AOR's domain part
  std::string role;    // "owner", "member", "guest", "server"; empty: none given
  std::vector<UserCredential> credentials;
};

using UserDone = std::function<void(StoreStatus status, const std::optional<UserRecord>& user)>;
using UserListDone = std::function<void(StoreStatus status, const std::vector<UserRecord>& users)>;
using UserWriteDone = std::function<void(StoreStatus status)>;

class __attribute__((visibility("default"))) UserStore {
 public:
  static constexpr const char* kServiceName = "homesip.user-store/1";
  virtual ~UserStore() = default;

  // The user `aor` (exact, case-insensitive), or nullopt with kOk when there is none.
  virtual void find_user(std::string_view aor, UserDone done) = 0;
  // Users whose domain is `domain`, sorted by AOR.
  virtual void list_users(std::string_view domain, UserListDone done) = 0;
  // Creates or replaces the user; durable before `done` is called with kOk.
  virtual void put_user(const UserRecord& user, UserWriteDone done) = 0;
  // Removes the user (kOk also when there was none).
  virtual void remove_user(std::string_view aor, UserWriteDone done) = 0;
};

}  // namespace homesip
