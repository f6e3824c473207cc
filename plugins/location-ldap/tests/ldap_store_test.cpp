// The LDAP store against a real slapd: what lands in the directory, two
// stores sharing one directory, concurrent writers, outages (killed and
// stopped directory), SASL EXTERNAL over ldapi, a mirror-mode pair, users.
#include <ldap.h>

#include <algorithm>
#include <set>

#include "binding_codec.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "ldap_connection.hpp"
#include "ldap_directory.hpp"
#include "slapd_fixture.hpp"
#include "store_test_support.hpp"

namespace homesip::location_ldap::testing {
namespace {

using namespace std::chrono_literals;

class LdapStoreTest : public LoopTest {
 protected:
  Slapd slapd_;
};

TEST_F(LdapStoreTest, BindingsLandInTheDirectoryAsDocumented) {
  LdapLocationStore& store = open(slapd_.store_options());
  const Binding binding = make_binding("sip:u1@192.0.2.7:5060", 3600, 700);
  ASSERT_EQ(update(store, "u1@C1.D1.H1", put(binding)).status, StoreStatus::kOk);

  const std::string ldif = slapd_.search("(homesipAOR=u1@C1.D1.H1)");
  EXPECT_NE(ldif.find("dn: homesipAOR=u1@C1.D1.H1,ou=bindings,o=homesip"), std::string::npos) << ldif;
  EXPECT_NE(ldif.find("objectClass: homesipLocation"), std::string::npos) << ldif;
  EXPECT_NE(ldif.find("homesipDomain: C1.D1.H1"), std::string::npos) << ldif;
  EXPECT_NE(ldif.find("homesipRevision: 1"), std::string::npos) << ldif;
  EXPECT_NE(ldif.find("homesipBinding: " + encode_binding(binding)), std::string::npos) << ldif;

  // Removing the last binding removes the entry.
  ASSERT_EQ(update(store, "u1@C1.D1.H1",
                   [](BindingList& b) {
                     b.clear();
                     return true;
                   })
                .status,
            StoreStatus::kOk);
  EXPECT_EQ(slapd_.search("(homesipAOR=u1@C1.D1.H1)"), "");
}

TEST_F(LdapStoreTest, AorsWithDnSpecialCharactersWork) {
  LdapLocationStore& store = open(slapd_.store_options());
  const std::string aor = "odd,user+x=\"y\"@c1.d1.h1";
  ASSERT_EQ(update(store, aor, put(make_binding("sip:odd@192.0.2.1", 600))).status, StoreStatus::kOk);
  LdapOptions fresh = slapd_.store_options();
  fresh.cache = 0ms;
  LdapLocationStore& other = open(fresh);
  EXPECT_EQ(contacts_of(lookup(other, aor).bindings), std::vector<std::string>{"sip:odd@192.0.2.1"});
}

TEST_F(LdapStoreTest, TwoStoresSharingADirectorySeeEachOthersBindings) {
  LdapOptions options = slapd_.store_options();
  options.cache = 300ms;
  LdapLocationStore& a = open(options);
  LdapLocationStore& b = open(options);
  // b reads the AOR first (caching "nothing"), then a writes it.
  EXPECT_TRUE(lookup(b, "u1@c1.d1.h1").bindings.empty());
  ASSERT_EQ(update(a, "u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600))).status, StoreStatus::kOk);
  // Within the cache period b may still answer from memory; after it, b sees a's write.
  pause(350ms);
  EXPECT_EQ(contacts_of(lookup(b, "u1@c1.d1.h1").bindings), std::vector<std::string>{"sip:a@192.0.2.1"});
  // An update through b edits what a wrote (read-modify-write on the directory, not on b's memory).
  const Outcome both = update(b, "u1@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600)));
  ASSERT_EQ(both.status, StoreStatus::kOk);
  EXPECT_EQ(both.bindings.size(), 2u);
  auto listed = std::make_shared<std::optional<std::vector<std::string>>>();
  a.list_aors("c1.d1.h1", [listed](StoreStatus status, const std::vector<std::string>& aors) {
    EXPECT_EQ(status, StoreStatus::kOk);
    *listed = aors;
  });
  ASSERT_TRUE(run_until([&] { return listed->has_value(); }));
  EXPECT_EQ(**listed, std::vector<std::string>{"u1@c1.d1.h1"});
}

TEST_F(LdapStoreTest, ConcurrentWritersOfOneAorNeverLoseAnUpdate) {
  LdapLocationStore& a = open(slapd_.store_options());
  LdapLocationStore& b = open(slapd_.store_options());
  std::vector<std::shared_ptr<Outcome>> outcomes;
  std::set<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    const std::string contact = "sip:c" + std::to_string(i) + "@192.0.2.1";
    expected.insert(contact);
    outcomes.push_back(submit(i % 2 ? a : b, "shared@c1.d1.h1", put(make_binding(contact, 600))));
  }
  ASSERT_TRUE(run_until(
      [&] { return std::all_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return o->called; }); },
      30s));
  for (const auto& o : outcomes) EXPECT_EQ(o->status, StoreStatus::kOk);
  LdapOptions fresh = slapd_.store_options();
  fresh.cache = 0ms;
  const auto found = contacts_of(lookup(open(fresh), "shared@c1.d1.h1").bindings);
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), expected);
}

// An update that keeps losing to other writers of its AOR is answered
// kUnavailable (the registrar's 503) each time, but warned once a minute at
// most, whatever succeeds in between: under load, a line per request was a
// flood. The other writer is the editor itself, through ldapmodify, between
// the store's read and its write.
TEST_F(LdapStoreTest, LostWriteConflictsWarnOnceAMinute) {
  LdapOptions options = slapd_.store_options();
  options.conflict_retries = 0;
  LdapLocationStore& store = open(options);
  const std::string aor = "busy@c1.d1.h1";
  ASSERT_EQ(update(store, aor, put(make_binding("sip:a@192.0.2.1", 600))).status, StoreStatus::kOk);
  int revision = 100;
  const BindingEditor interfere = [&](BindingList& bindings) {
    EXPECT_EQ(slapd_.modify("dn: homesipAOR=" + aor +
                                ",ou=bindings,o=homesip\nchangetype: modify\nreplace: homesipRevision\n"
                                "homesipRevision: " +
                                std::to_string(++revision) + "\n",
                            false),
              0);
    bindings.push_back(make_binding("sip:b@192.0.2.2", 600));
    return true;
  };
  constexpr int kLost = 12;
  for (int i = 0; i < kLost; ++i) EXPECT_EQ(update(store, aor, interfere).status, StoreStatus::kUnavailable);
  EXPECT_EQ(revision, 100 + kLost);
  EXPECT_EQ(logger_.count(LogLevel::kWarn, "too many concurrent writes of " + aor), 1u) << logger_.dump();
  // Another AOR's update succeeding in between, then more conflicts: still that one line.
  ASSERT_EQ(update(store, "calm@c1.d1.h1", put(make_binding("sip:c@192.0.2.3", 600))).status,
            StoreStatus::kOk);
  EXPECT_EQ(update(store, aor, interfere).status, StoreStatus::kUnavailable);
  ASSERT_EQ(update(store, aor, put(make_binding("sip:d@192.0.2.4", 600))).status, StoreStatus::kOk);
  EXPECT_EQ(logger_.count(LogLevel::kWarn, "location store ldap: an update was lost: "), 1u)
      << logger_.dump();
  EXPECT_EQ(logger_.count(LogLevel::kWarn, "location store ldap"), 1u) << logger_.dump();
}

TEST_F(LdapStoreTest, DirectoryDownAnswersUnavailableAndRecovers) {
  LdapLocationStore& store = open(slapd_.store_options());
  ASSERT_EQ(update(store, "u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600))).status, StoreStatus::kOk);

  slapd_.kill9();
  const Outcome refused = update(store, "u2@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600)));
  EXPECT_EQ(refused.status, StoreStatus::kUnavailable);
  // Reads this server can answer from what it knew keep working.
  pause(1100ms);  // past the cache period
  const Outcome known = lookup(store, "u1@c1.d1.h1");
  EXPECT_EQ(known.status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(known.bindings), std::vector<std::string>{"sip:a@192.0.2.1"});
  EXPECT_EQ(lookup(store, "never-seen@c1.d1.h1").status, StoreStatus::kUnavailable);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(update(store, "u2@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600))).status,
              StoreStatus::kUnavailable);
  EXPECT_FALSE(store.connected());

  slapd_.start();
  ASSERT_TRUE(run_until([&] { return store.connected(); }, 5s)) << logger_.dump();
  EXPECT_EQ(update(store, "u2@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600))).status, StoreStatus::kOk);
  // The binding confirmed before the crash survived it.
  EXPECT_NE(slapd_.search("(homesipAOR=u1@c1.d1.h1)").find("sip:a@192.0.2.1"), std::string::npos);
  // One line per change of state, not one per failed request or reconnect attempt.
  EXPECT_EQ(logger_.count(LogLevel::kError, "unavailable ("), 1u) << logger_.dump();
  EXPECT_EQ(logger_.count(LogLevel::kInfo, "connected to"), 2u) << logger_.dump();
}

TEST_F(LdapStoreTest, SlowDirectoryTimesOutWithoutBlockingTheLoop) {
  LdapOptions options = slapd_.store_options();
  options.timeout = 500ms;
  LdapLocationStore& store = open(options);
  ASSERT_EQ(update(store, "u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600))).status, StoreStatus::kOk);

  slapd_.pause();  // accepts connections, answers nothing
  const auto before = std::chrono::steady_clock::now();
  auto outcome = submit(store, "u1@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600)));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 50ms) << "update() must not wait for the directory";
  // Meanwhile the loop runs: a timer fires while the directory hangs.
  bool ticked = false;
  auto timer = loop_->start_timer(100ms, false, [&] { ticked = true; });
  ASSERT_TRUE(run_until([&] { return ticked; }, 400ms));
  EXPECT_FALSE(outcome->called);
  ASSERT_TRUE(run_until([&] { return outcome->called; }, 5s));
  EXPECT_EQ(outcome->status, StoreStatus::kUnavailable);

  slapd_.resume();
  ASSERT_TRUE(run_until([&] { return store.connected(); }, 10s)) << logger_.dump();
  EXPECT_EQ(update(store, "u1@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600))).status, StoreStatus::kOk);
}

TEST_F(LdapStoreTest, SaslExternalOverLdapi) {
  LdapOptions options = slapd_.store_options();
  options.uri = slapd_.ldapi_uri();
  options.bind_dn.clear();
  options.bind_password.clear();
  options.sasl_mech = "EXTERNAL";
  LdapLocationStore& store = open(options);
  EXPECT_EQ(update(store, "u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600))).status, StoreStatus::kOk)
      << logger_.dump();
  EXPECT_NE(slapd_.search("(homesipAOR=u1@c1.d1.h1)").find("sip:a@192.0.2.1"), std::string::npos);
}

TEST_F(LdapStoreTest, WrongPasswordIsReportedAndRetried) {
  LdapOptions options = slapd_.store_options();
  options.bind_password = "wrong";
  LdapLocationStore& store = open(options);
  EXPECT_EQ(update(store, "u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600))).status,
            StoreStatus::kUnavailable);
  EXPECT_TRUE(run_until([&] { return logger_.count(LogLevel::kError, "Invalid credentials") > 0; }, 2s))
      << logger_.dump();
}

TEST_F(LdapStoreTest, ReadsUsersWithHa1PerRealm) {
  // example-directory.ldif, loaded at creation, holds alice with one HA1.
  ASSERT_EQ(slapd_.modify("dn: homesipAOR=bob@C1.D1.H1,ou=users,o=homesip\nobjectClass: homesipUser\n"
                          "homesipAOR: bob@C1.D1.H1\nhomesipDomain: C1.D1.H1\n"
                          "homesipHA1: C1.D1.H1:0123456789ABCDEF0123456789abcdef\n"
                          "homesipHA1: other.realm:fedcba98765432100123456789abcdef\n"
                          "homesipHA1: broken\n",
                          true),
            0);
  LdapConnection connection(slapd_.store_options());
  const auto alice = read_user(connection, slapd_.store_options(), "alice@C1.D1.H1");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->domain, "C1.D1.H1");
  ASSERT_EQ(alice->credentials.size(), 1u);
  EXPECT_EQ(alice->credentials[0].realm, "C1.D1.H1");
  EXPECT_EQ(alice->credentials[0].algorithm, "MD5");
  EXPECT_EQ(alice->credentials[0].ha1, "39535b42ebec89143eeb014e3d72d081");
  const auto bob = read_user(connection, slapd_.store_options(), "bob@C1.D1.H1");
  ASSERT_TRUE(bob.has_value());
  ASSERT_EQ(bob->credentials.size(), 2u) << "the malformed value is skipped";
  EXPECT_EQ(bob->credentials[0].realm, "C1.D1.H1");
  EXPECT_EQ(bob->credentials[0].ha1, "0123456789abcdef0123456789abcdef") << "hex in lower case";
  EXPECT_FALSE(read_user(connection, slapd_.store_options(), "nobody@C1.D1.H1").has_value());

  // The same through the store, off the loop.
  LdapLocationStore& store = open(slapd_.store_options());
  auto found = std::make_shared<std::optional<std::optional<UserRecord>>>();
  store.find_user("alice@C1.D1.H1", [found](StoreStatus status, const std::optional<UserRecord>& user) {
    EXPECT_EQ(status, StoreStatus::kOk);
    *found = user;
  });
  ASSERT_TRUE(run_until([&] { return found->has_value(); }));
  ASSERT_TRUE(found->value().has_value());
  EXPECT_EQ(found->value()->aor, "alice@C1.D1.H1");
}

TEST_F(LdapStoreTest, CorruptValueIsAnErrorNotSilence) {
  ASSERT_EQ(slapd_.modify("dn: homesipAOR=bad@c1.d1.h1,ou=bindings,o=homesip\nobjectClass: homesipLocation\n"
                          "homesipAOR: bad@c1.d1.h1\nhomesipDomain: c1.d1.h1\nhomesipRevision: 1\n"
                          "homesipBinding: v9 something else\n",
                          true),
            0);
  LdapLocationStore& store = open(slapd_.store_options());
  EXPECT_EQ(update(store, "bad@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600))).status,
            StoreStatus::kError);
  EXPECT_EQ(lookup(store, "bad@c1.d1.h1").status, StoreStatus::kError);
}

// Two directories in OpenLDAP mirror mode (syncrepl both ways): a binding
// written through one is read through the other.
TEST(LdapMirrorMode, BindingWrittenThroughOneIsReadThroughTheOther) {
  const uint16_t port1 = homesip::test::free_port();
  uint16_t port2 = homesip::test::free_port();
  while (port2 == port1) port2 = homesip::test::free_port();
  Slapd first({port1, 1, port2, true});
  Slapd second({port2, 2, port1, false});  // starts empty, gets everything by replication
  // Wait for the base entries to reach the second directory.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (second.search("(ou=bindings)").find("dn: ou=bindings") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "no replication: " << homesip::test::read_file(second.dir() / "slapd.log");
    std::this_thread::sleep_for(100ms);
  }

  core::SofiaEventLoop loop;
  RecordingLogger logger;
  LdapOptions through_first = first.store_options();
  LdapOptions through_second = second.store_options();
  through_second.cache = 0ms;
  LdapLocationStore a(through_first, loop, logger);
  LdapLocationStore b(through_second, loop, logger);

  auto written = std::make_shared<std::optional<StoreStatus>>();
  a.update("u1@c1.d1.h1", put(make_binding("sip:a@192.0.2.1", 600)),
           [written](StoreStatus status, const BindingList&) { *written = status; });
  ASSERT_TRUE(loop.run_until([&] { return written->has_value(); }, 10s));
  ASSERT_EQ(**written, StoreStatus::kOk);

  bool seen = false;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!seen && std::chrono::steady_clock::now() < until) {
    auto found = std::make_shared<std::optional<BindingList>>();
    b.lookup("u1@c1.d1.h1", [found](StoreStatus, const BindingList& bindings) { *found = bindings; });
    ASSERT_TRUE(loop.run_until([&] { return found->has_value(); }, 10s));
    seen = contacts_of(**found) == std::vector<std::string>{"sip:a@192.0.2.1"};
    if (!seen) loop.run_until([] { return false; }, 100ms);
  }
  EXPECT_TRUE(seen);

  // And back: an update through the second edits what the first wrote.
  auto both = std::make_shared<std::optional<BindingList>>();
  b.update("u1@c1.d1.h1", put(make_binding("sip:b@192.0.2.2", 600)),
           [both](StoreStatus status, const BindingList& bindings) {
             EXPECT_EQ(status, StoreStatus::kOk);
             *both = bindings;
           });
  ASSERT_TRUE(loop.run_until([&] { return both->has_value(); }, 10s));
  EXPECT_EQ((*both)->size(), 2u);
  const auto back_deadline = std::chrono::steady_clock::now() + 20s;
  while (first.search("(homesipAOR=u1@c1.d1.h1)").find("sip:b@192.0.2.2") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), back_deadline) << "not replicated back";
    std::this_thread::sleep_for(100ms);
  }
  a.stop();
  b.stop();
}

// The SDK's thread model: answers run on the loop of the thread that called.
// Two test-kit loops stand for the main loop and a second request loop; the
// store is told which one calls, as PluginContext::current_loop() would.
TEST_F(LdapStoreTest, AnswersArriveOnTheLoopThatCalled) {
  testkit::ManualLoop main_loop;
  testkit::ManualLoop request_loop;
  EventLoop* calling = &request_loop;
  LdapOptions options = slapd_.store_options();
  options.cache = 0ms;  // the lookup goes to the directory, through the worker
  LdapLocationStore store(options, main_loop, logger_, [&]() -> EventLoop& { return *calling; });

  std::vector<std::string> answered;
  store.update("u1@loops.test", put(make_binding("sip:u1@192.0.2.1", 600)),
               [&](StoreStatus status, const BindingList&) {
                 EXPECT_EQ(status, StoreStatus::kOk);
                 answered.push_back("update");
               });
  store.put_user(UserRecord{"U1@loops.test", "loops.test", "owner", {}}, [&](StoreStatus status) {
    EXPECT_EQ(status, StoreStatus::kOk);
    answered.push_back("put_user");
  });
  store.lookup("u1@loops.test", [&](StoreStatus status, const BindingList& bindings) {
    EXPECT_EQ(status, StoreStatus::kOk);
    EXPECT_EQ(contacts_of(bindings), std::vector<std::string>{"sip:u1@192.0.2.1"});
    answered.push_back("lookup");
  });
  store.find_user("u1@loops.test", [&](StoreStatus status, const std::optional<UserRecord>& user) {
    EXPECT_EQ(status, StoreStatus::kOk);
    EXPECT_TRUE(user.has_value());
    answered.push_back("find_user");
  });
  store.list_aors("loops.test", [&](StoreStatus status, const std::vector<std::string>& aors) {
    EXPECT_EQ(status, StoreStatus::kOk);
    EXPECT_EQ(aors, std::vector<std::string>{"u1@loops.test"});
    answered.push_back("list_aors");
  });
  calling = &main_loop;

  // The main loop does the store's bookkeeping (the cache) and passes the
  // answers on; none of them runs there.
  ASSERT_TRUE(main_loop.run_until([&] { return request_loop.pending_tasks() >= 5; }, 10s))
      << request_loop.pending_tasks() << " answers reached the request loop";
  EXPECT_TRUE(answered.empty()) << "answered on the main loop";
  request_loop.run_pending();
  EXPECT_EQ(answered, (std::vector<std::string>{"update", "put_user", "lookup", "find_user", "list_aors"}));

  // Called from the main loop: answered there, nothing for the request loop.
  bool main_answered = false;
  store.list_users("loops.test", [&](StoreStatus status, const std::vector<UserRecord>& users) {
    EXPECT_EQ(status, StoreStatus::kOk);
    EXPECT_EQ(users.size(), 1u);
    main_answered = true;
  });
  EXPECT_TRUE(main_loop.run_until([&] { return main_answered; }, 10s));
  EXPECT_EQ(request_loop.pending_tasks(), 0u);
  store.stop();
  main_loop.run_pending();
}

}  // namespace
}  // namespace homesip::location_ldap::testing
