// The tree plugin end to end: a community server D1@C1 (location-sqlite,
// tree, registrar) on loopback, driven by SIPp. A family server H1 registers
// with D1 directly; requests for H1's users are sent on to H1's contact
// (paper STEP 2/4, and the redirect call); names of other communities go to
// the top. The top is a loopback port nobody answers on: D1's own upward
// registration there fails and retries, which changes none of its answers.
#include <gtest/gtest.h>

#include <filesystem>

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
