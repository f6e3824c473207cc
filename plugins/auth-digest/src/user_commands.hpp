// The operator's commands on the user store (homesipctl runs them as
// auth-digest.<name>; `homesipctl user ...` computes HA1 and calls user-put):
//   user-put AOR ROLE ALG:HA1 [ALG:HA1...]  creates or replaces a user
//   user-del AOR                             removes one
//   user-list [DOMAIN]                       aor, role and algorithms, never HA1
#pragma once

#include <string>
#include <vector>

#include "homesip/admin.hpp"
#include "homesip/user_store.hpp"

namespace homesip::auth_digest {

class UserCommands {
 public:
  // `realm`: the only domain users may be put in, and user-list's default.
  UserCommands(UserStore& users, std::string realm) : users_(users), realm_(std::move(realm)) {}
  void put(const std::vector<std::string>& arguments, CommandDone done);
  void del(const std::vector<std::string>& arguments, CommandDone done);
  void list(const std::vector<std::string>& arguments, CommandDone done);

 private:
  UserStore& users_;
  std::string realm_;
};

// {"aor":..,"role":..,"algorithms":[..]}: what may be shown of a user.
std::string user_json(const UserRecord& user);

}  // namespace homesip::auth_digest
