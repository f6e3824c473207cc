// The tree plugin end to end: a community server D1@C1 (location-sqlite,
// tree, registrar) on loopback, driven by SIPp. A family server H1 registers
// with D1 directly; requests for H1's users are sent on to H1's contact
// (paper STEP 2/4, and the redirect call); names of other communities go to
// the top. The top is a loopback port nobody answers on: D1's own upward
// registration there fails and retries, which changes none of its answers.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

// SippRun joins its scenario with scenario_dir(); ours live beside this test.
std::string our_scenario(const std::string& name) {
  return (std::filesystem::relative(TREE_SCENARIO_DIR, scenario_dir()) / name).string();
}

std::string community_plugins(const TempDir& dir, const std::string& top) {
  return "  - plugin: location-sqlite\n    path: " + (dir / "location.sqlite").string() + "\n" +
         tree_plugin_yaml("D1", "C1", top) + "  - plugin: registrar\n";
}

class TreeTest : public ::testing::Test {
 protected:
  void start() {
    top_ = "sip:127.0.0.1:" + std::to_string(free_port());
    server_ =
        std::make_unique<HomesipServer>(dir_, ServerOptions{"D1", "C1", community_plugins(dir_, top_), ""});
    server_->start();
  }
  void SetUp() override { start(); }

  // Runs one of our scenarios for user@domain; true when SIPp saw what it expects.
  bool run(const std::string& scenario, const std::string& user, const std::string& domain) {
    SippRun r{our_scenario(scenario), server_->port()};
    r.keys = {{"user", user}, {"domain", domain}};
    std::string out;
    if (sipp(r, &out) == 0) return true;
    ADD_FAILURE() << scenario << " for " << user << "@" << domain << " failed:\n"
                  << out << "\nserver log:\n"
                  << read_file(server_->log());
    return false;
  }

  TempDir dir_;
  std::string top_;
  std::unique_ptr<HomesipServer> server_;
};

}  // namespace

TEST_F(TreeTest, RegisterIsBoundHereOrRedirectedDownTheTree) {
  EXPECT_TRUE(run("reg_200.xml", "H1", "C1.D1"));              // a family server: my direct child
  EXPECT_TRUE(run("reg_302_h1.xml", "U1", "C1.D1.H1"));        // H1's user: go to H1
  EXPECT_TRUE(run("reg_302_h1.xml", "u2", "c1.d1.H1"));        // names compare case-insensitively
  EXPECT_TRUE(run("reg_404.xml", "U1", "C1.D2.H1"));           // another community's family
  EXPECT_TRUE(run("reg_404.xml", "U1", "C1.D1.H9"));           // H9 never registered: offline
  EXPECT_TRUE(run("reg_404.xml", "D1", "C1"));                 // my own name belongs to my parent
  EXPECT_TRUE(run("reg_404_invalid.xml", "U.1", "C1.D1.H1"));  // not a tree name
}

TEST_F(TreeTest, RedirectedRegisterWritesNothing) {
  EXPECT_TRUE(run("reg_200.xml", "H1", "C1.D1"));
  EXPECT_TRUE(run("reg_302_h1.xml", "U1", "C1.D1.H1"));
  // Had the redirect bound U1 here, an INVITE to D1's own user U1@C1.D1 would not get 480.
  EXPECT_TRUE(run("inv_480.xml", "U1", "C1.D1"));
}

TEST_F(TreeTest, InviteIsRedirectedLikeRegister) {
  EXPECT_TRUE(run("reg_200.xml", "H1", "C1.D1"));
  EXPECT_TRUE(run("inv_302_h1.xml", "U1", "C1.D1.H1"));  // to the next server on the path
  EXPECT_TRUE(run("inv_302_h1.xml", "H1", "C1.D1"));     // a direct child: its own contacts
  EXPECT_TRUE(run("inv_404.xml", "U1", "C1.D1.H9"));     // next server offline
  EXPECT_TRUE(run("inv_480.xml", "U5", "C1.D1"));        // my user, not registered
  EXPECT_TRUE(run("inv_483.xml", "U1", "C1.D1.H1"));     // no hops left
}

// A plain RFC 3261 client that followed a 302 to D1 sends to D1's address
// and keeps To: D1 decides by To (8.1.3.4) instead of sending it back up.
TEST_F(TreeTest, ARequestAddressedToTheServerIsDecidedByItsTo) {
  EXPECT_TRUE(run("reg_200.xml", "H1", "C1.D1"));
  EXPECT_TRUE(run("inv_302_h1_by_address.xml", "U1", "C1.D1.H1"));
}

TEST_F(TreeTest, MessageIsRedirected) {
  EXPECT_TRUE(run("reg_200.xml", "H1", "C1.D1"));
  EXPECT_TRUE(run("msg_302_h1.xml", "U1", "C1.D1.H1"));
}

TEST_F(TreeTest, DirectUserGetsEveryContactByQ) {
  EXPECT_TRUE(run("reg_two.xml", "U7", "C1.D1"));
  EXPECT_TRUE(run("inv_302_q.xml", "U7", "C1.D1"));
}

TEST_F(TreeTest, NamesOutsideMySubtreeGoToTheTop) {
  EXPECT_TRUE(run("inv_302_top.xml", "U1", "C1.D2.H1"));  // another community's family
  EXPECT_TRUE(run("inv_302_top.xml", "D2", "C1"));        // a sibling server
  EXPECT_TRUE(run("reg_404.xml", "U1", "C1.D2.H1"));      // a REGISTER is never sent up
}

namespace {

// The times of the datagrams SIPp received, from its -trace_msg file: each
// message follows a "----- YYYY-MM-DD HH:MM:SS.ffffff" line.
std::vector<double> received_at(const std::string& trace) {
  std::vector<double> seconds;
  std::istringstream in(trace);
  std::string line, stamp;
  while (std::getline(in, line)) {
    if (line.rfind("-----", 0) == 0) stamp = line.substr(line.rfind(' ') + 1);  // HH:MM:SS.ffffff
    if (line.rfind("UDP message received", 0) == 0 && stamp.size() >= 8)
      seconds.push_back(std::stoi(stamp.substr(0, 2)) * 3600 + std::stoi(stamp.substr(3, 2)) * 60 +
                        std::stod(stamp.substr(6)));
  }
  return seconds;
}

}  // namespace

// The top (SIPp) answers D1's upward REGISTER 503 with Retry-After: 2, then 200:
// D1 (with `loops` event loops) sends the same REGISTER again to it no sooner
// than 2 s later and at most 20 % later (its jitter), not after its 1 s backoff.
static void expect_busy_top_asked_again_after_its_retry_after(int loops) {
  TempDir dir;
  const uint16_t sipp_port = free_port();
  const auto trace = dir / "messages.log";
  Process top({"sipp", "-sf", std::string(TREE_SCENARIO_DIR) + "/upward_busy_uas.xml", "-i", "127.0.0.1",
               "-p", std::to_string(sipp_port), "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error",
               "-trace_msg", "-message_file", trace.string()},
              dir / "sipp.log");
  HomesipServer d1(
      dir, ServerOptions{"D1", "C1", community_plugins(dir, "sip:127.0.0.1:" + std::to_string(sipp_port)),
                         loops > 1 ? "  loops: " + std::to_string(loops) + "\n" : ""});
  // SIPp may not listen yet when D1 sends its first REGISTER: that one is
  // retransmitted (timer E), still one transaction for SIPp.
  d1.start();
  ASSERT_EQ(top.wait(std::chrono::seconds(20)), 0) << read_file(dir / "sipp.log") << read_file(d1.log());
  const auto at = received_at(read_file(trace));
  ASSERT_GE(at.size(), 2u) << read_file(trace);
  // The first REGISTER SIPp took is the one it answered 503; the last is the retry it answered 200.
  const double gap = at.back() - at.front();
  EXPECT_GE(gap, 2.0) << read_file(trace);
  EXPECT_LE(gap, 2.6) << read_file(trace);
  EXPECT_NE(read_file(d1.log()).find("as its Retry-After asks (1 of 5)"), std::string::npos)
      << read_file(d1.log());
}

TEST(UpwardRegistrationBusy, ABusyTopIsAskedAgainAfterItsRetryAfter) {
  expect_busy_top_asked_again_after_its_retry_after(1);
}

TEST(UpwardRegistrationBusy, ABusyTopIsAskedAgainAfterItsRetryAfterWithTwoLoops) {
  expect_busy_top_asked_again_after_its_retry_after(2);
}
