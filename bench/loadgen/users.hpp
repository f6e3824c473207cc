// The users of an authenticated load: names PREFIX<n>, n = first .. first+count-1, in one
// domain (the digest realm), each with its own password derived from a seed, so that the load
// generator, homesipd's user store and Kamailio's subscriber table agree without a file of
// passwords.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace homesip::loadgen {

struct UserSet {
  std::string prefix = "u";
  uint64_t first = 1;
  uint64_t count = 1;
  std::string domain = "home.local";  // also the realm
  std::string seed = "homesip-bench";

  // The user part of the index-th user (0 <= index < count).
  std::string name(uint64_t index) const;
  // 16 hex characters of SHA-256(seed ":" user): one password per user.
  std::string password(std::string_view user) const;
};

// INSERTs for Kamailio's auth_db `subscriber` table (HA1 and HA1B, MD5, no plaintext), in one
// transaction: pipe into `sqlite3 FILE`.
void write_kamailio_sql(const UserSet& users, std::ostream& out);

// `auth-digest.user-put AOR ROLE MD5:<ha1> SHA-256:<ha1>` for every user, sent to homesipd's admin
// socket on one connection (requests pipelined in windows). Throws std::runtime_error on the first
// refusal or when the socket cannot be reached.
void put_users(const UserSet& users, const std::string& admin_socket, const std::string& role);

}  // namespace homesip::loadgen
