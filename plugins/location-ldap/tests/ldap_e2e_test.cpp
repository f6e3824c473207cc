// homesipd end to end with location-ldap + registrar on a real slapd: SIPp
// registrations land in the directory (checked with ldapsearch), two servers
// share one directory, and a directory killed mid-load gives 503s, then
// recovery, with no 200-OK'd binding missing.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "slapd_fixture.hpp"
#include "test_support.hpp"

namespace homesip::location_ldap::testing {
namespace {

using namespace homesip::test;
using namespace std::chrono_literals;

std::string ldap_plugins(const Slapd& slapd, const TempDir& dir, const std::string& extra = "") {
  write_file(dir / "ldap.password", std::string(kAdminPassword) + "\n");
  std::filesystem::permissions(dir / "ldap.password",  // a secret: 0600
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return "  - plugin: location-ldap\n    uri: " + slapd.uri() + "\n    base_dn: " + kBaseDn +
         "\n    bind_dn: " + kAdminDn + "\n    password_file: " + (dir / "ldap.password").string() +
         "\n    timeout_ms: 1000\n    reconnect_min_ms: 100\n    reconnect_max_ms: 500\n" + extra +
         "  - plugin: registrar\n    domains: [C1.D1.H1, 127.0.0.1]\n    retry_after_s: 7\n";
}

std::string raw_register(const std::string& user, const std::string& call_id, int cseq,
                         const std::string& rest) {
  return "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK" + call_id +
         std::to_string(cseq) + "\nMax-Forwards: 70\nFrom: <sip:" + user +
         "@C1.D1.H1>;tag=t1\nTo: <sip:" + user + "@C1.D1.H1>\nCall-ID: " + call_id +
         "\nCSeq: " + std::to_string(cseq) + " REGISTER\n" + rest + "Content-Length: 0\n\n";
}

class LdapEndToEnd : public ::testing::Test {
 protected:
  int scenario(HomesipServer& server, const std::string& name, const std::string& user) {
    SippRun r{name, server.port()};
    r.keys = {{"user", user}, {"domain", "C1.D1.H1"}, {"expires", "3600"}};
    std::string out;
    const int rc = sipp(r, &out);
    if (rc != 0) ADD_FAILURE() << name << " failed:\n" << out << "\nserver log:\n" << read_file(server.log());
    return rc;
  }

  Slapd slapd_;
  TempDir dir_;
};

TEST_F(LdapEndToEnd, SippRegistrationsLandInTheDirectory) {
  HomesipServer server(dir_, ServerOptions{"H1", "C1.D1", ldap_plugins(slapd_, dir_), ""});
  server.start();
  EXPECT_EQ(scenario(server, "register.xml", "U1"), 0);
  EXPECT_EQ(scenario(server, "fetch.xml", "U1"), 0);
  const std::string ldif = slapd_.search("(homesipAOR=U1@C1.D1.H1)", {"homesipBinding", "homesipDomain"});
  EXPECT_NE(ldif.find("dn: homesipAOR=U1@C1.D1.H1,ou=bindings,o=homesip"), std::string::npos) << ldif;
  EXPECT_NE(ldif.find("homesipBinding: v1 sip:U1@"), std::string::npos) << ldif;

  // Several contacts, one removed; a wildcard removal empties the entry.
  EXPECT_EQ(scenario(server, "two_contacts.xml", "U4"), 0);
  EXPECT_EQ(scenario(server, "register.xml", "U5"), 0);
  EXPECT_EQ(scenario(server, "wildcard.xml", "U5"), 0);
  EXPECT_EQ(slapd_.search("(homesipAOR=U5@C1.D1.H1)"), "");
  EXPECT_EQ(scenario(server, "fetch_none.xml", "U5"), 0);
}

TEST_F(LdapEndToEnd, TwoServersSharingTheDirectorySeeEachOthersBindings) {
  HomesipServer first(dir_, ServerOptions{"H1", "C1.D1", ldap_plugins(slapd_, dir_), ""});
  HomesipServer second(dir_,
                       ServerOptions{"H1", "C1.D1", ldap_plugins(slapd_, dir_, "    cache_ms: 0\n"), ""});
  first.start();
  second.start();
  EXPECT_EQ(scenario(first, "register.xml", "S1"), 0);
  EXPECT_EQ(scenario(second, "fetch.xml", "S1"), 0);
  EXPECT_EQ(scenario(second, "register.xml", "S2"), 0);
  std::this_thread::sleep_for(1100ms);  // the first server's default cache_ms
  EXPECT_EQ(scenario(first, "fetch.xml", "S2"), 0);
}

class LdapEndToEndLoops : public LdapEndToEnd, public ::testing::WithParamInterface<int> {};

// With server.loops: 2 the background SIPp and each exchange's own port land
// on either loop, so the store is called from both loop threads at once.
TEST_P(LdapEndToEndLoops, DirectoryKilledMidLoadGives503ThenRecoversLosingNothing) {
  HomesipServer server(dir_, ServerOptions{"H1", "C1.D1", ldap_plugins(slapd_, dir_), ""});
  server.set_extra_arguments({"--set", "server.loops=" + std::to_string(GetParam())});
  server.start();
  // A background SIPp load keeps registering while the directory goes away and comes back.
  std::thread load([&] {
    SippRun r{"register.xml", server.port()};
    r.calls = 200;
    r.rate = 40;
    r.keys = {{"user", "BG"}, {"domain", "C1.D1.H1"}, {"expires", "3600"}};
    std::string out;
    sipp(r, &out);  // some of these get 503: SIPp's exit code says nothing here
  });

  std::set<std::string> confirmed;
  int unavailable = 0, after_restart_ok = 0;
  std::string a503;
  // After slapd is back the store reconnects at its next attempt, at most reconnect_max_ms (500)
  // later; the requests go on until 25 of them got their 200 there, for at most 3 s.
  std::chrono::steady_clock::time_point restarted, recovered;
  const auto recovering = [&](int i) {
    return i < 56 || (after_restart_ok < 25 && std::chrono::steady_clock::now() < restarted + 3s);
  };
  for (int i = 0; recovering(i); ++i) {
    if (i == 30) slapd_.kill9();
    if (i == 55) {
      // Still serving what needs no directory while it is down.
      EXPECT_EQ(scenario(server, "options.xml", "K1"), 0);
      slapd_.start();
      restarted = std::chrono::steady_clock::now();
    }
    const std::string user = "L" + std::to_string(i);
    const std::string reply = udp_exchange(
        server.port(),
        raw_register(user, "load-" + user, 1, "Contact: <sip:" + user + "@127.0.0.1:5999>\nExpires: 600\n"));
    const int status = status_of(reply);
    if (status == 200) {
      confirmed.insert(user);
      if (i >= 55 && after_restart_ok++ == 0) recovered = std::chrono::steady_clock::now();
    } else {
      EXPECT_EQ(status, 503) << reply;
      if (status == 503) {
        ++unavailable;
        a503 = reply;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  load.join();

  EXPECT_EQ(confirmed.size(), 30u + after_restart_ok);  // every request while slapd was up
  EXPECT_GT(unavailable, 10);
  EXPECT_NE(a503.find("Retry-After: 7"), std::string::npos) << a503;
  EXPECT_GE(after_restart_ok, 25) << "the server did not recover after the directory came back";
  // The next reconnect attempt, at most reconnect_max_ms after slapd is back, and a margin.
  if (after_restart_ok > 0) {
    EXPECT_LT(recovered - restarted, 1500ms);
  }
  const std::string ldif = slapd_.search("(objectClass=homesipLocation)", {"homesipAOR"});
  for (const std::string& user : confirmed)
    EXPECT_NE(ldif.find("homesipAOR: " + user + "@C1.D1.H1\n"), std::string::npos)
        << user << " got 200 OK but its binding is not in the directory";
  // One log line per state change of the directory, not one per request.
  const std::string log = read_file(server.log());
  size_t downs = 0;
  for (size_t at = log.find("unavailable ("); at != std::string::npos; at = log.find("unavailable (", at + 1))
    ++downs;
  EXPECT_EQ(downs, 1u) << log.substr(0, 4000);
}

INSTANTIATE_TEST_SUITE_P(Loops, LdapEndToEndLoops, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + (info.param == 1 ? "Loop" : "Loops");
                         });

}  // namespace
}  // namespace homesip::location_ldap::testing
