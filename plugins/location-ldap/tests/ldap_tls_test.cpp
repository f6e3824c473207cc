// The LDAP store over TLS against a real slapd with a throwaway CA: ldaps://
// and StartTLS with the directory's CA work; a certificate from another CA,
// a missing CA file or a directory without TLS make the store unavailable
// (it never goes on in clear text); tls_verify: false accepts any
// certificate; and these settings stay with their own connection.
#include <ldap.h>

#include <algorithm>

#include "ldap_connection.hpp"
#include "slapd_fixture.hpp"
#include "store_test_support.hpp"

namespace homesip::location_ldap::testing {
namespace {

using namespace std::chrono_literals;

class LdapTlsTest : public LoopTest {
 protected:
  // TLS configured, and clear text refused by the directory itself: whatever
  // works below really went over TLS.
  LdapTlsTest() : slapd_(SlapdOptions{.tls = true, .require_security = true}) {}

  LdapOptions ldaps_options() const {
    LdapOptions options = slapd_.store_options();
    options.uri = slapd_.ldaps_uri();
    options.tls_ca_file = slapd_.ca_file().string();
    return options;
  }
  LdapOptions starttls_options() const {
    LdapOptions options = slapd_.store_options();
    options.starttls = true;
    options.tls_ca_file = slapd_.ca_file().string();
    return options;
  }
  // A CA that did not sign the directory's certificate.
  std::string other_ca() {
    if (!other_ca_) other_ca_ = make_test_ca(other_dir_.path(), "other");
    return other_ca_->cert.string();
  }
  bool stored(const std::string& aor, const std::string& contact) const {
    return slapd_.search("(homesipAOR=" + aor + ")").find(contact) != std::string::npos;
  }
  // The store answers kOk for an update and for a lookup through a second store without cache.
  void expect_works(const LdapOptions& options, const std::string& aor) {
    LdapLocationStore& store = open(options);
    const Outcome written = update(store, aor, put(make_binding("sip:" + aor, 600)));
    ASSERT_EQ(written.status, StoreStatus::kOk) << logger_.dump();
    EXPECT_TRUE(store.connected());
    EXPECT_TRUE(stored(aor, "sip:" + aor)) << slapd_.search("(objectClass=*)");
    LdapOptions fresh = options;
    fresh.cache = 0ms;
    const Outcome found = lookup(open(fresh), aor);
    EXPECT_EQ(found.status, StoreStatus::kOk) << logger_.dump();
    EXPECT_EQ(contacts_of(found.bindings), std::vector<std::string>{"sip:" + aor});
  }
  // Updates and lookups answer kUnavailable, nothing reaches the directory,
  // and the failure is logged (once) with `why` in it.
  void expect_refused(const LdapOptions& options, const std::string& aor, const std::string& why) {
    // Other stores of the test may use the same URI: count this one's lines only.
    const std::string line = "directory " + options.uri + " unavailable (";
    const size_t down_before = logger_.count(LogLevel::kError, line);
    const size_t why_before = logger_.count(LogLevel::kError, why);
    const size_t up_before = logger_.count(LogLevel::kInfo, "connected to " + options.uri);
    LdapLocationStore& store = open(options);
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(update(store, aor, put(make_binding("sip:" + aor, 600))).status, StoreStatus::kUnavailable)
          << logger_.dump();
    EXPECT_EQ(lookup(store, aor).status, StoreStatus::kUnavailable);
    EXPECT_FALSE(store.connected());
    EXPECT_FALSE(stored(aor, "sip:" + aor));
    EXPECT_TRUE(run_until([&] { return logger_.count(LogLevel::kError, line) > down_before; }, 2s))
        << logger_.dump();
    EXPECT_EQ(logger_.count(LogLevel::kError, line), down_before + 1) << logger_.dump();
    EXPECT_GT(logger_.count(LogLevel::kError, why), why_before) << "expected '" << why << "' in:\n"
                                                                << logger_.dump();
    EXPECT_EQ(logger_.count(LogLevel::kInfo, "connected to " + options.uri), up_before) << logger_.dump();
  }

  Slapd slapd_;
  homesip::test::TempDir other_dir_;
  std::optional<TestCa> other_ca_;
};

TEST_F(LdapTlsTest, ClearTextIsRefusedByThisDirectory) {
  // The control for the tests below: without TLS this directory takes no update.
  LdapLocationStore& store = open(slapd_.store_options());
  EXPECT_NE(update(store, "clear@c1.d1.h1", put(make_binding("sip:clear@192.0.2.1", 600))).status,
            StoreStatus::kOk);
  EXPECT_FALSE(stored("clear@c1.d1.h1", "sip:clear@192.0.2.1"));
}

TEST_F(LdapTlsTest, LdapsWithTheDirectorysCaWorks) {
  expect_works(ldaps_options(), "ldaps@c1.d1.h1");
  EXPECT_GE(logger_.count(LogLevel::kInfo, "connected to " + slapd_.ldaps_uri()), 1u) << logger_.dump();
}

TEST_F(LdapTlsTest, StartTlsWithTheDirectorysCaWorks) {
  expect_works(starttls_options(), "starttls@c1.d1.h1");
}

TEST_F(LdapTlsTest, LdapsWithAnotherCaIsRefused) {
  LdapOptions options = ldaps_options();
  options.tls_ca_file = other_ca();
  options.tls_verify = true;
  expect_refused(options, "badca@c1.d1.h1", "TLS failed");
}

TEST_F(LdapTlsTest, StartTlsWithAnotherCaIsRefused) {
  LdapOptions options = starttls_options();
  options.tls_ca_file = other_ca();
  expect_refused(options, "badca@c1.d1.h1", "StartTLS with " + options.uri + " failed");
  EXPECT_GE(logger_.count(LogLevel::kError, "TLS failed"), 1u) << logger_.dump();
}

TEST_F(LdapTlsTest, MissingCaFileIsRefused) {
  LdapOptions options = ldaps_options();
  options.tls_ca_file = (other_dir_.path() / "no-such-ca.pem").string();
  expect_refused(options, "noca@c1.d1.h1", "cannot load tls_ca_file " + options.tls_ca_file);
}

// A tls_ca_file libldap cannot load must not let it fall back to its global
// default TLS context (ldap.conf, LDAPTLS_* variables), here one that
// verifies nothing (as with "TLS_REQCERT never" in ldap.conf).
TEST_F(LdapTlsTest, MissingCaFileNeverFallsBackToLibldapDefaults) {
  int saved = LDAP_OPT_X_TLS_DEMAND;
  ASSERT_EQ(ldap_get_option(nullptr, LDAP_OPT_X_TLS_REQUIRE_CERT, &saved), LDAP_OPT_SUCCESS);
  const int never = LDAP_OPT_X_TLS_NEVER;
  const int client = 0;
  ASSERT_EQ(ldap_set_option(nullptr, LDAP_OPT_X_TLS_REQUIRE_CERT, &never), LDAP_OPT_SUCCESS);
  ASSERT_EQ(ldap_set_option(nullptr, LDAP_OPT_X_TLS_NEWCTX, &client), LDAP_OPT_SUCCESS);
  struct Restore {
    int saved;
    ~Restore() {
      const int client = 0;
      ldap_set_option(nullptr, LDAP_OPT_X_TLS_REQUIRE_CERT, &saved);
      ldap_set_option(nullptr, LDAP_OPT_X_TLS_NEWCTX, &client);
    }
  } restore{saved};

  LdapOptions options = ldaps_options();
  options.tls_ca_file = (other_dir_.path() / "no-such-ca.pem").string();
  options.tls_verify = true;
  expect_refused(options, "fallback@c1.d1.h1", "cannot load tls_ca_file");
  EXPECT_THROW(LdapConnection{options}, LdapError);
}

TEST_F(LdapTlsTest, TlsVerifyOffAcceptsACertificateFromAnotherCa) {
  LdapOptions options = ldaps_options();
  options.tls_ca_file = other_ca();
  options.tls_verify = false;
  expect_works(options, "noverify@c1.d1.h1");
}

TEST_F(LdapTlsTest, TlsSettingsStayWithTheirConnection) {
  // libldap's TLS options are per handle: a store trusting another CA (or
  // not verifying at all) changes nothing for the others, in any order.
  LdapOptions good = ldaps_options();
  LdapOptions lax = ldaps_options();
  lax.tls_ca_file = other_ca();
  lax.tls_verify = false;
  LdapOptions strict_other = ldaps_options();
  strict_other.tls_ca_file = other_ca();

  expect_works(lax, "lax@c1.d1.h1");
  expect_refused(strict_other, "strict@c1.d1.h1", "TLS failed");
  expect_works(good, "good@c1.d1.h1");
  // And the direct connection, as the tools use it.
  EXPECT_NO_THROW(LdapConnection{good});
  EXPECT_THROW(LdapConnection{strict_other}, LdapError);
  EXPECT_NO_THROW(LdapConnection{lax});
  EXPECT_THROW(LdapConnection{strict_other}, LdapError);
}

// StartTLS against a directory that has no TLS configured: unavailable, and
// no clear-text fallback (this directory would take clear-text updates).
TEST(LdapStartTlsWithoutTls, IsUnavailableWithoutClearTextFallback) {
  Slapd slapd;
  core::SofiaEventLoop loop;
  RecordingLogger logger;
  LdapOptions options = slapd.store_options();
  options.starttls = true;
  {
    LdapLocationStore store(options, loop, logger);
    for (int i = 0; i < 2; ++i) {
      auto status = std::make_shared<std::optional<StoreStatus>>();
      store.update("u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600)),
                   [status](StoreStatus s, const BindingList&) { *status = s; });
      ASSERT_TRUE(loop.run_until([&] { return status->has_value(); }, 10s));
      EXPECT_EQ(**status, StoreStatus::kUnavailable) << logger.dump();
    }
    EXPECT_FALSE(store.connected());
    loop.run_until([&] { return logger.count(LogLevel::kError, "StartTLS") > 0; }, 2s);
    EXPECT_EQ(logger.count(LogLevel::kError, "StartTLS with " + slapd.uri() + " failed"), 1u)
        << logger.dump();
    store.stop();
  }
  EXPECT_EQ(slapd.search("(homesipAOR=u1@c1.d1.h1)"), "");
  // The same options without StartTLS do reach this directory.
  options.starttls = false;
  LdapLocationStore clear(options, loop, logger);
  auto status = std::make_shared<std::optional<StoreStatus>>();
  clear.update("u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600)),
               [status](StoreStatus s, const BindingList&) { *status = s; });
  ASSERT_TRUE(loop.run_until([&] { return status->has_value(); }, 10s));
  EXPECT_EQ(**status, StoreStatus::kOk) << logger.dump();
  clear.stop();
}

}  // namespace
}  // namespace homesip::location_ldap::testing
