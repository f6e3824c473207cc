// The registrar end to end: homesipd with location-sqlite and registrar on
// loopback, driven by SIPp scenarios and sipsak.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

std::string registrar_plugins(const TempDir& dir, const std::string& domains = "[C1.D1.H1, 127.0.0.1]") {
  return "  - plugin: location-sqlite\n    path: " + (dir / "location.sqlite").string() +
         "\n  - plugin: registrar\n    domains: " + domains + "\n";
}

class RegistrarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ =
        std::make_unique<HomesipServer>(dir_, ServerOptions{"H1", "C1.D1", registrar_plugins(dir_), ""});
    server_->start();
  }
  int scenario(const std::string& name, const std::string& user, const std::string& transport = "u1") {
    SippRun r{name, server_->port(), transport};
    r.keys = {{"user", user}, {"domain", "C1.D1.H1"}, {"expires", "3600"}};
    std::string out;
    const int rc = sipp(r, &out);
    if (rc != 0)
      ADD_FAILURE() << name << " failed:\n" << out << "\nserver log:\n" << read_file(server_->log());
    return rc;
  }

  TempDir dir_;
  std::unique_ptr<HomesipServer> server_;
};

}  // namespace

TEST_F(RegistrarTest, RegisterListsTheBinding) {
  EXPECT_EQ(scenario("register.xml", "U1"), 0);
  EXPECT_EQ(scenario("fetch.xml", "U1"), 0);
}

TEST_F(RegistrarTest, RegisterOverTcp) {
  EXPECT_EQ(scenario("register.xml", "U2", "t1"), 0);
  EXPECT_EQ(scenario("fetch.xml", "U2"), 0);
}

TEST_F(RegistrarTest, RefreshExtendsAndOlderCSeqFails) { EXPECT_EQ(scenario("refresh.xml", "U3"), 0); }

TEST_F(RegistrarTest, FetchOfUnknownUserListsNothing) { EXPECT_EQ(scenario("fetch_none.xml", "nobody"), 0); }

TEST_F(RegistrarTest, SeveralContactsOrderedByQAndSingleRemoval) {
  EXPECT_EQ(scenario("two_contacts.xml", "U4"), 0);
  EXPECT_EQ(scenario("fetch.xml", "U4"), 0);  // the phone contact is still bound
}

TEST_F(RegistrarTest, WildcardRemovesEverything) {
  EXPECT_EQ(scenario("register.xml", "U5"), 0);
  EXPECT_EQ(scenario("wildcard.xml", "U5"), 0);
  EXPECT_EQ(scenario("fetch_none.xml", "U5"), 0);
}

TEST_F(RegistrarTest, BadExpiresGets423Or400) {
  EXPECT_EQ(scenario("bad_expires.xml", "U6"), 0);
  EXPECT_EQ(scenario("fetch_none.xml", "U6"), 0);  // nothing was bound
}

namespace {
// A REGISTER for `user` with the given Call-ID, CSeq and Contact/Expires lines.
std::string raw_register(const std::string& user, const std::string& call_id, int cseq,
                         const std::string& rest) {
  return "REGISTER sip:C1.D1.H1 SIP/2.0\n"
         "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK" +
         call_id + std::to_string(cseq) +
         "\n"
         "Max-Forwards: 70\n"
         "From: <sip:" +
         user +
         "@C1.D1.H1>;tag=t1\n"
         "To: <sip:" +
         user +
         "@C1.D1.H1>\n"
         "Call-ID: " +
         call_id +
         "\n"
         "CSeq: " +
         std::to_string(cseq) + " REGISTER\n" + rest + "Content-Length: 0\n\n";
}
}  // namespace

TEST_F(RegistrarTest, OlderCSeqOfSameCallIdFailsAndChangesNothing) {
  const std::string contact = "Contact: <sip:U8@127.0.0.1:5999>\nExpires: 600\n";
  EXPECT_EQ(status_of(udp_exchange(server_->port(), raw_register("U8", "cseq-test", 5, contact))), 200);
  const auto older = udp_exchange(
      server_->port(), raw_register("U8", "cseq-test", 4, "Contact: <sip:U8@127.0.0.1:5999>\nExpires: 0\n"));
  EXPECT_EQ(status_of(older), 500) << older;
  EXPECT_EQ(scenario("fetch.xml", "U8"), 0);  // still bound
  // A retransmission (same CSeq) is answered like the original.
  EXPECT_EQ(status_of(udp_exchange(server_->port(), raw_register("U8", "cseq-test", 5, contact))), 200);
}

TEST_F(RegistrarTest, MalformedRequestsGet400AndServerKeepsServing) {
  const uint16_t port = server_->port();
  // No From header.
  auto r = udp_exchange(port,
                        "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bKm1\n"
                        "To: <sip:x@C1.D1.H1>\nCall-ID: m1\nCSeq: 1 REGISTER\nContent-Length: 0\n\n");
  EXPECT_EQ(status_of(r), 400) << r;
  // CSeq method differs from the request's.
  std::string wrong_method = raw_register("x", "m2", 1, "");
  wrong_method.replace(wrong_method.find("CSeq: 1 REGISTER"), 16, "CSeq: 1 INVITE");
  r = udp_exchange(port, wrong_method);
  EXPECT_EQ(status_of(r), 400) << r;
  // Garbage header value, bad request line, binary noise: 400 or dropped, never a crash.
  r = udp_exchange(port, raw_register("x", "m3", 1, "Contact: <sip:x@127.0.0.1>\nExpires: -5\n"));
  EXPECT_EQ(status_of(r), 400) << r;
  udp_exchange(port, "REGISTER\n\n", std::chrono::milliseconds(300));
  udp_exchange(port, std::string("\x01\x02\xff\xfe garbage \0 here", 20), std::chrono::milliseconds(300));
  // Unknown extension required: 420 with Unsupported.
  r = udp_exchange(port, raw_register("x", "m4", 1, "Require: teleport\nContact: <sip:x@127.0.0.1>\n"));
  EXPECT_EQ(status_of(r), 420) << r;
  EXPECT_NE(r.find("Unsupported: teleport"), std::string::npos) << r;
  // Still serving.
  EXPECT_EQ(scenario("options.xml", "U7"), 0);
  EXPECT_EQ(scenario("register.xml", "U7"), 0);
}

TEST_F(RegistrarTest, OtherDomainIsNotServed) {
  // register_404.xml accepts exactly a 404: a 200, any other status or no answer fails it.
  SippRun r{"register_404.xml", server_->port()};
  r.keys = {{"user", "U1"}, {"domain", "C1.D2.H9"}, {"expires", "3600"}};
  std::string out;
  EXPECT_EQ(sipp(r, &out), 0) << out << "\nserver log:\n" << read_file(server_->log());
}

TEST_F(RegistrarTest, SipsakRegistersAndRemoves) {
  const std::string target = "sip:carol@127.0.0.1:" + std::to_string(server_->port());
  std::string out;
  // usrloc mode: REGISTER carol with the given contact, expect 200.
  const int rc = run({"sipsak", "-U", "-C", "sip:carol@127.0.0.1:5999", "-x", "600", "-s", target, "-vv"},
                     &out, std::chrono::seconds(30));
  EXPECT_EQ(rc, 0) << out;
  SippRun fetch{"fetch.xml", server_->port()};
  fetch.keys = {{"user", "carol"}, {"domain", "127.0.0.1"}};
  EXPECT_EQ(sipp(fetch, &out), 0) << out;
}

// A 200 OK means the binding is durable: kill -9 the server during a burst of
// new registrations, restart it, and every user that got 200 is still bound.
TEST(RegistrarCrash, EveryAcknowledgedBindingSurvivesKill9) {
  TempDir dir;
  HomesipServer server(dir, ServerOptions{"H1", "C1.D1", registrar_plugins(dir), ""});
  server.start();

  const int users = 3000;
  std::ostringstream csv;
  csv << "SEQUENTIAL\n";
  for (int i = 0; i < users; ++i) csv << "crash" << i << ";\n";
  write_file(dir / "users.csv", csv.str());
  const auto acked = dir / "acked.log";

  std::vector<std::string> argv = {"sipp",
                                   "127.0.0.1:" + std::to_string(server.port()),
                                   "-sf",
                                   scenario_dir() + "/register_log.xml",
                                   "-inf",
                                   (dir / "users.csv").string(),
                                   "-key",
                                   "domain",
                                   "C1.D1.H1",
                                   "-key",
                                   "expires",
                                   "3600",
                                   "-i",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(free_port()),
                                   "-m",
                                   std::to_string(users),
                                   "-r",
                                   "1500",
                                   "-nostdin",
                                   "-trace_logs",
                                   "-log_file",
                                   acked.string(),
                                   "-recv_timeout",
                                   "1500",
                                   "-max_non_invite_retrans",
                                   "1",
                                   "-timeout",
                                   "30s",
                                   "-buff_size",
                                   "4194304"};
  Process load(argv, dir / "sipp.out");
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  server.kill9();
  EXPECT_NE(load.wait(std::chrono::seconds(40)), -1) << "SIPp did not finish";

  std::set<std::string> ok_users;
  std::ifstream in(acked);
  for (std::string line; std::getline(in, line);) {
    const auto start = line.find("crash");
    if (start != std::string::npos)
      ok_users.insert(line.substr(start, line.find_first_of(" \t\r", start) - start));
  }
  ASSERT_GT(ok_users.size(), 100u) << "too few registrations before the kill to prove anything";
  ASSERT_LT(ok_users.size(), static_cast<size_t>(users)) << "the kill came after the load ended";

  server.start();  // same config, same database file
  std::ostringstream check;
  check << "SEQUENTIAL\n";
  for (const auto& u : ok_users) check << u << ";\n";
  write_file(dir / "acked.csv", check.str());
  SippRun fetch{"fetch_csv.xml", server.port()};
  fetch.csv = (dir / "acked.csv").string();
  fetch.calls = static_cast<int>(ok_users.size());
  fetch.rate = 2000;
  fetch.keys = {{"domain", "C1.D1.H1"}};
  std::string out;
  EXPECT_EQ(sipp(fetch, &out), 0) << ok_users.size() << " acknowledged users, some lost:\n"
                                  << out.substr(0, 4000);
}

// A dead backend: another process holds the database's write lock longer than
// the store waits. REGISTER gets 503 with Retry-After, nothing is claimed, and
// the server recovers by itself once the lock is gone.
TEST(RegistrarStoreDown, LockedDatabaseGets503WithRetryAfterThenRecovers) {
  TempDir dir;
  const auto db = (dir / "location.sqlite").string();
  HomesipServer server(dir, ServerOptions{"H1", "C1.D1",
                                          "  - plugin: location-sqlite\n    path: " + db +
                                              "\n    busy_timeout_ms: 100\n  - plugin: registrar\n    "
                                              "domains: [C1.D1.H1]\n    retry_after_s: 7\n",
                                          ""});
  server.start();
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &locker), SQLITE_OK);
  sqlite3_busy_timeout(locker, 5000);  // the store's own purge at start may still hold the lock
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  const std::string contact = "Contact: <sip:U1@127.0.0.1:5999>\nExpires: 600\n";
  const auto refused = udp_exchange(server.port(), raw_register("U1", "down-1", 1, contact));
  EXPECT_EQ(status_of(refused), 503) << refused;
  EXPECT_NE(refused.find("Retry-After: 7"), std::string::npos) << refused;
  const auto listed = udp_exchange(server.port(), raw_register("U1", "down-2", 1, ""));  // fetch
  EXPECT_EQ(status_of(listed), 200) << listed;
  EXPECT_EQ(listed.find("sip:U1@127.0.0.1:5999"), std::string::npos) << "a refused binding is listed:\n"
                                                                     << listed;

  ASSERT_EQ(sqlite3_exec(locker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);
  const auto accepted = udp_exchange(server.port(), raw_register("U1", "down-1", 2, contact));
  EXPECT_EQ(status_of(accepted), 200) << accepted;
  EXPECT_NE(accepted.find("sip:U1@127.0.0.1:5999"), std::string::npos) << accepted;
}
