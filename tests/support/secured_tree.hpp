// A tree with passwords, as the security tests need it: the province C1, the
// community D1@C1 and the family H1@C1.D1, each with location-sqlite, the
// tree, auth-digest, the policy and the registrar. Each parent holds its
// child's credentials (`homesipctl user add --password-file`) before the
// child starts, and each child registers upward with its tree block's
// `password_file`. Shared by attacks_test, the appliance hub's and the MQTT
// bridge's end-to-end tests so that they start the same tree the same way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace homesip::test {

class SecuredTree {
 public:
  static constexpr const char* kD1Password = "d1 at the province";
  static constexpr const char* kH1Password = "h1 at the community";

  // Servers' files (stores, secrets, admin sockets, passwords) go to `dir`;
  // `homesipctl` is the admin tool's path (HOMESIP_TEST_HOMESIPCTL).
  SecuredTree(const TempDir& dir, std::string homesipctl);

  // Starts C1, D1 and H1 top down and returns once D1 is online at C1 and H1
  // at D1 (a fatal gtest failure otherwise: wrap in ASSERT_NO_FATAL_FAILURE).
  // `family_plugins` ("  - plugin: ...\n") follow H1's common plugins;
  // `family_arguments` follow its homesipd command line.
  void start(const std::string& family_plugins = "", const std::vector<std::string>& family_arguments = {});

  // Another family of D1 ("H2" for H2@C1.D1): its credentials at D1, started,
  // online at D1 (else a failure and nullptr). With `own_ip` ("127.0.0.2") its
  // first listener is there, so its own requests leave from another host than
  // the other servers' (which the policy tells from this server's own).
  std::unique_ptr<HomesipServer> start_family(const std::string& name, const std::string& password,
                                              const std::string& plugins = "",
                                              const std::string& own_ip = "");

  // A server of the tree, not started: the common plugins, its tree block
  // (keepalive 1 s, offline after 2 misses, `password_file` when given) and
  // `more` after them. Its admin socket is socket_of(name).
  std::unique_ptr<HomesipServer> make(const std::string& name, const std::string& domain,
                                      const std::string& password_file = "",
                                      const std::string& more = "") const;

  // The top server's URI ("sip:127.0.0.1:PORT"); valid once C1 started.
  std::string top() const;
  std::string socket_of(const std::string& name) const;
  // `text` and a newline in dir/name, mode 0600 (as password files must be).
  std::string password_file(const std::string& name, const std::string& text) const;
  // homesipctl on `server`'s admin socket; its output to `out` when given.
  int ctl(const std::string& server, const std::vector<std::string>& arguments,
          std::string* out = nullptr) const;
  // `homesipctl user add AOR --role ROLE --password-file ...` at `server`; 0 on success.
  int add_user(const std::string& server, const std::string& aor, const std::string& role,
               const std::string& password) const;
  // True when `parent`'s `homesipctl tree` lists `aor` as an online child.
  bool child_online(const std::string& parent, const std::string& aor) const;
  // The three servers' logs, for failure messages.
  std::string logs() const;

  std::unique_ptr<HomesipServer> province, community, family;

 private:
  const TempDir& dir_;
  const std::string homesipctl_;
};

}  // namespace homesip::test
