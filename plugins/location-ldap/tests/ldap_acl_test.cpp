// The access rules of docs/ldap.md (schema/homesip-acl.ldif) on a real slapd: homesip's bind DN
// and the admins group read and write homesipHA1; anonymous clients and other accounts neither
// see it nor find entries by it, also when they are given read access to the rest; homesip's
// store works under the rules (users with their HA1, bindings).
#include <memory>
#include <optional>

#include "slapd_fixture.hpp"
#include "store_test_support.hpp"

namespace homesip::location_ldap::testing {
namespace {

using namespace std::chrono_literals;
using homesip::test::run;
using homesip::test::write_file;

constexpr const char* kHomesipDn = "cn=homesip,o=homesip";
constexpr const char* kHomesipPassword = "homesip-secret";
constexpr const char* kAdminMemberDn = "cn=alice-admin,o=homesip";
constexpr const char* kAdminMemberPassword = "admin-secret";
constexpr const char* kOtherDn = "cn=reader,o=homesip";
constexpr const char* kOtherPassword = "reader-secret";
// alice@C1.D1.H1's HA1 in example-directory.ldif (loaded with the base).
constexpr const char* kAliceHa1 = "homesipHA1: C1.D1.H1:39535b42ebec89143eeb014e3d72d081";

std::string acl_ldif() {
  return homesip::test::read_file(homesip::test::source_dir() +
                                  "/plugins/location-ldap/schema/homesip-acl.ldif");
}

class LdapAclTest : public LoopTest {
 protected:
  void SetUp() override {
    // Three accounts and the admins group, added as the database's root DN.
    ASSERT_EQ(slapd_.modify(account(kHomesipDn, "homesip", kHomesipPassword) + "\n" +
                                account(kAdminMemberDn, "alice-admin", kAdminMemberPassword) + "\n" +
                                account(kOtherDn, "reader", kOtherPassword) +
                                "\ndn: cn=admins,o=homesip\nobjectClass: groupOfNames\ncn: admins\nmember: " +
                                kAdminMemberDn + "\n",
                            true),
              0);
  }
  static std::string account(const std::string& dn, const std::string& cn, const std::string& password) {
    return "dn: " + dn + "\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: " + cn +
           "\nuserPassword: " + password + "\n";
  }
  // ldapmodify -Y EXTERNAL over ldapi, as docs/ldap.md says (the fixture maps its own uid to the
  // config database's root DN).
  int apply_config(const std::string& ldif) {
    const auto file = slapd_.dir() / "acl.ldif";
    write_file(file, ldif);
    std::string output;
    const int rc = run({"ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd_.ldapi_uri(), "-f", file.string()},
                       &output, 10s);
    EXPECT_EQ(rc, 0) << output;
    return rc;
  }
  // ldapsearch as `dn` (empty: anonymous) for every user attribute; the LDIF text (and what it said
  // on stderr, e.g. "No such object" for one who may not see the base).
  std::string search_as(const std::string& dn, const std::string& password, const std::string& filter) {
    std::vector<std::string> argv{"ldapsearch", "-x",         "-LLL", "-o",       "ldif-wrap=no",
                                  "-H",         slapd_.uri(), "-b",   "o=homesip"};
    if (!dn.empty()) argv.insert(argv.end(), {"-D", dn, "-w", password});
    argv.push_back(filter);
    std::string output;
    run(argv, &output, 10s);
    return output;
  }
  // ldapmodify as `dn`; the exit code (50: insufficient access).
  int modify_as(const std::string& dn, const std::string& password, const std::string& ldif) {
    const auto file = slapd_.dir() / "change-as.ldif";
    write_file(file, ldif);
    return run({"ldapmodify", "-x", "-H", slapd_.uri(), "-D", dn, "-w", password, "-f", file.string()});
  }
  LdapOptions homesip_options() const {
    LdapOptions options = slapd_.store_options();
    options.bind_dn = kHomesipDn;
    options.bind_password = kHomesipPassword;
    return options;
  }

  Slapd slapd_;
};

TEST_F(LdapAclTest, Ha1IsReadOnlyByHomesipAndTheAdmins) {
  ASSERT_EQ(apply_config(acl_ldif()), 0);
  const std::string alice = "(homesipAOR=alice@C1.D1.H1)";
  EXPECT_NE(search_as(kHomesipDn, kHomesipPassword, alice).find(kAliceHa1), std::string::npos);
  EXPECT_NE(search_as(kAdminMemberDn, kAdminMemberPassword, alice).find(kAliceHa1), std::string::npos);
  // Anonymous and another account: not the HA1, not even the entry.
  for (const auto& [dn, password] :
       {std::pair<std::string, std::string>{"", ""}, {kOtherDn, kOtherPassword}}) {
    const std::string seen = search_as(dn, password, alice);
    EXPECT_EQ(seen.find("homesipHA1"), std::string::npos) << dn << ": " << seen;
    EXPECT_EQ(seen.find("39535b42ebec89143eeb014e3d72d081"), std::string::npos) << dn << ": " << seen;
    EXPECT_EQ(seen.find("dn: homesipAOR=alice@C1.D1.H1"), std::string::npos) << dn << ": " << seen;
    EXPECT_EQ(search_as(dn, password, "(homesipHA1=*)").find("dn: "), std::string::npos) << dn;
  }
  // Anonymous binds still work (anonymous auth on userPassword), a wrong password does not.
  EXPECT_EQ(run({"ldapwhoami", "-x", "-H", slapd_.uri(), "-D", kOtherDn, "-w", kOtherPassword}), 0);
  EXPECT_NE(run({"ldapwhoami", "-x", "-H", slapd_.uri(), "-D", kOtherDn, "-w", "wrong"}), 0);
}

// docs/ldap.md: an account given read access to homesip's entries (rule {2}) still gets nothing
// of homesipHA1 (rule {1}), and may not write it.
TEST_F(LdapAclTest, AnAccountGivenReadStillGetsNoHa1) {
  std::string rules = acl_ldif();
  const std::string rule2 = "{2}to dn.subtree=\"o=homesip\"\n";
  const auto at = rules.find(rule2);
  ASSERT_NE(at, std::string::npos) << rules;
  rules.insert(at + rule2.size(), "  by dn.exact=\"cn=reader,o=homesip\" read\n");
  ASSERT_EQ(apply_config(rules), 0);

  const std::string seen = search_as(kOtherDn, kOtherPassword, "(homesipAOR=alice@C1.D1.H1)");
  EXPECT_NE(seen.find("dn: homesipAOR=alice@C1.D1.H1,ou=users,o=homesip"), std::string::npos) << seen;
  EXPECT_NE(seen.find("cn: Alice"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("homesipHA1"), std::string::npos) << seen;
  EXPECT_EQ(search_as(kOtherDn, kOtherPassword, "(homesipHA1=*)").find("dn: "), std::string::npos);
  EXPECT_EQ(search_as("", "", "(homesipAOR=alice@C1.D1.H1)").find("dn: "), std::string::npos)
      << "anonymous: nothing";
  EXPECT_EQ(
      modify_as(kOtherDn, kOtherPassword,
                "dn: homesipAOR=alice@C1.D1.H1,ou=users,o=homesip\nchangetype: modify\nreplace: homesipHA1\n"
                "homesipHA1: C1.D1.H1:00000000000000000000000000000000\n"),
      50);
  EXPECT_NE(search_as(kHomesipDn, kHomesipPassword, "(homesipAOR=alice@C1.D1.H1)").find(kAliceHa1),
            std::string::npos)
      << "unchanged";
}

// homesipd's store bound as homesip's DN works under the rules: users with their HA1 are read and
// written, bindings written (ou=bindings created under the base).
TEST_F(LdapAclTest, HomesipsStoreWorksUnderTheRules) {
  ASSERT_EQ(slapd_.modify("dn: ou=bindings,o=homesip\nchangetype: delete\n", false), 0);
  ASSERT_EQ(apply_config(acl_ldif()), 0);
  LdapLocationStore& store = open(homesip_options());

  auto found = std::make_shared<std::optional<std::optional<UserRecord>>>();
  store.find_user("alice@C1.D1.H1", [found](StoreStatus status, const std::optional<UserRecord>& user) {
    EXPECT_EQ(status, StoreStatus::kOk);
    *found = user;
  });
  ASSERT_TRUE(run_until([&] { return found->has_value(); })) << logger_.dump();
  ASSERT_TRUE(found->value().has_value()) << logger_.dump();
  ASSERT_EQ(found->value()->credentials.size(), 1u);
  EXPECT_EQ(found->value()->credentials[0].ha1, "39535b42ebec89143eeb014e3d72d081");

  const UserRecord bob{"bob@C1.D1.H1", "C1.D1.H1", "member", {{"C1.D1.H1", "MD5", std::string(32, 'a')}}};
  auto written = std::make_shared<std::optional<StoreStatus>>();
  store.put_user(bob, [written](StoreStatus status) { *written = status; });
  ASSERT_TRUE(run_until([&] { return written->has_value(); })) << logger_.dump();
  EXPECT_EQ(**written, StoreStatus::kOk) << logger_.dump();
  EXPECT_NE(slapd_.search("(homesipAOR=bob@C1.D1.H1)").find("homesipHA1: C1.D1.H1:" + std::string(32, 'a')),
            std::string::npos);

  EXPECT_EQ(update(store, "u1@C1.D1.H1", put(make_binding("sip:u1@192.0.2.7:5060", 600))).status,
            StoreStatus::kOk)
      << logger_.dump();
  EXPECT_NE(slapd_.search("(homesipAOR=u1@C1.D1.H1)").find("sip:u1@192.0.2.7:5060"), std::string::npos);
}

}  // namespace
}  // namespace homesip::location_ldap::testing
