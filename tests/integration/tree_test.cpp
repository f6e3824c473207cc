// The management network on loopback (paper, Fig. 2 and 4): a province, two
// communities and four families, each a homesipd started from config alone
// (the tree plugin's block: name, domain, top). Servers register upward by
// themselves; users register through the top with exactly two redirects; a
// plain RFC 3261 client reaches a callee in another family; parents notice
// dead children by keepalives and stopped ones by their goodbye. What a
// server holds is read with `homesipctl tree`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

std::string homesipctl() { return HOMESIP_TEST_HOMESIPCTL; }

// The plugins of one server of the tree: its store, the tree block (where it
// stands: name, domain, the top's address) and the registrar, whose domain the
// tree gives.
std::string tier_plugins(const TempDir& dir, const std::string& name, const std::string& domain,
                         const std::string& top, const std::string& tree_settings = "") {
  return "  - plugin: location-sqlite\n    path: " + (dir / (name + domain + ".sqlite")).string() + "\n" +
         tree_plugin_yaml(name, domain, top, tree_settings) + "  - plugin: registrar\n    min_expires: 10\n";
}

std::string raw_register(const std::string& aor, const std::string& call_id) {
  return "REGISTER sip:" + aor.substr(aor.find('@') + 1) +
         " SIP/2.0\n"
         "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK" +
         call_id +
         "\n"
         "Max-Forwards: 70\nFrom: <sip:" +
         aor + ">;tag=p\nTo: <sip:" + aor +
         ">\n"
         "Call-ID: " +
         call_id +
         "\nCSeq: 1 REGISTER\nContact: <sip:probe@127.0.0.1:$PORT$>\n"
         "Expires: 600\nContent-Length: 0\n\n";
}

// Status of a REGISTER for `aor` sent to `port`.
int register_status(uint16_t port, const std::string& aor) {
  static int n = 0;
  return status_of(
      udp_exchange(port, raw_register(aor, "probe-" + std::to_string(++n)), std::chrono::seconds(2)));
}

// The value of `name`'s first line in `message`, "" when absent.
std::string header_value(const std::string& message, const std::string& name) {
  const std::string key = "\r\n" + name + ": ";
  const auto at = message.find(key);
  if (at == std::string::npos) return {};
  const auto end = message.find("\r\n", at + key.size());
  return message.substr(at + key.size(), end - at - key.size());
}

// A stand-in parent's 200 to `request`: its Via, From, To, Call-ID and CSeq lines, then `extra`.
std::string ok_for(const std::string& request, const std::string& extra = "") {
  std::string ok = "SIP/2.0 200 OK\r\n";
  for (const char* name : {"Via", "From", "To", "Call-ID", "CSeq"})
    ok += std::string(name) + ": " + header_value(request, name) + "\r\n";
  return ok + extra + "Content-Length: 0\r\n\r\n";
}

// Where nta waits for the answer to `request`: the port of its top Via.
uint16_t via_port(const std::string& request) {
  const std::string via = header_value(request, "Via");
  const auto colon = via.find(':', via.find(' '));
  return colon == std::string::npos ? 0 : static_cast<uint16_t>(std::atoi(via.c_str() + colon + 1));
}

// A server's `homesipctl tree` as JSON (null when it does not answer).
nlohmann::json tree_of(const std::string& socket) {
  std::string out;
  if (run({homesipctl(), "--socket", socket, "--json", "tree"}, &out, std::chrono::seconds(5)) != 0)
    return nullptr;
  return nlohmann::json::parse(out, nullptr, false);
}

// The child `aor` in a `tree` answer (null when it is not listed).
nlohmann::json child_in(const nlohmann::json& tree, const std::string& aor) {
  if (!tree.is_object() || !tree.contains("children")) return nullptr;
  for (const auto& child : tree["children"])
    if (child.value("aor", "") == aor) return child;
  return nullptr;
}

bool child_online(const nlohmann::json& tree, const std::string& aor) {
  const auto child = child_in(tree, aor);
  return child.is_object() && child.value("online", false);
}

class ManagementTree : public ::testing::Test {
 protected:
  void SetUp() override {
    province_ = make("C1", "", "");
    const std::string top = "sip:127.0.0.1:" + std::to_string(province_->port());
    for (const std::string d : {"D1", "D2"}) {
      communities_.push_back(make(d, "C1", top));
      for (const std::string h : {"H1", "H2"}) families_.push_back(make(h, "C1." + d, top));
    }
    // Bottom up, the top last: order must not matter.
    for (auto& f : families_) f->start();
    for (auto& c : communities_) c->start();
    province_->start();
  }

  // A server with an admin socket, named by `name`+`domain` in the temp dir.
  std::unique_ptr<HomesipServer> make(const std::string& name, const std::string& domain,
                                      const std::string& top) {
    const std::string socket = socket_of(name, domain);
    return std::make_unique<HomesipServer>(
        dir_, ServerOptions{name, domain, tier_plugins(dir_, name, domain, top, tree_settings_),
                            "  admin_socket: " + socket + "\n"});
  }
  std::string socket_of(const std::string& name, const std::string& domain) const {
    return (dir_ / (name + domain + ".sock")).string();
  }
  nlohmann::json province_tree() const { return tree_of(socket_of("C1", "")); }
  nlohmann::json community_tree(int d) const { return tree_of(socket_of(d == 0 ? "D1" : "D2", "C1")); }
  nlohmann::json family_tree(int d, int h) const {
    return tree_of(socket_of(h == 0 ? "H1" : "H2", d == 0 ? "C1.D1" : "C1.D2"));
  }

  // Every family reachable: a user REGISTER at the top is redirected (302).
  bool tree_is_up() {
    for (const std::string aor : {"x@C1.D1.H1", "x@C1.D1.H2", "x@C1.D2.H1", "x@C1.D2.H2"})
      if (register_status(province_->port(), aor) != 302) return false;
    // ...and each community redirects to each of its families: all four are registered.
    for (const std::string family : {"H1", "H2"})
      for (int d = 0; d < 2; ++d)
        if (register_status(communities_[d]->port(), "x@C1.D" + std::to_string(d + 1) + "." + family) != 302)
          return false;
    return true;
  }

  int redirect_register(const std::string& user, const std::string& domain, std::string* out = nullptr) {
    SippRun r{"redirect_register.xml", province_->port()};
    r.keys = {{"user", user}, {"domain", domain}};
    return sipp(r, out);
  }

  static std::string address_of(const HomesipServer& server) {
    return "127.0.0.1:" + std::to_string(server.port());
  }

  // Liveness, unless a test says otherwise: a probe a second, offline after two misses.
  std::string tree_settings_ = "    keepalive_interval: 1\n    keepalive_misses: 2\n";
  TempDir dir_;
  std::unique_ptr<HomesipServer> province_;
  std::vector<std::unique_ptr<HomesipServer>> communities_;
  std::vector<std::unique_ptr<HomesipServer>> families_;  // D1/H1, D1/H2, D2/H1, D2/H2
};

// How long a dead child may stay online at its parent: interval x misses, plus 2 s.
constexpr auto kOfflineWithin = std::chrono::seconds(1 * 2 + 2);

}  // namespace

TEST_F(ManagementTree, ComesUpFromConfigAndTwentyUsersRegisterWithTwoRedirects) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)))
      << read_file(families_[0]->log());
  // Each server's parent, as its `tree` says: communities registered at the top,
  // families at their community, which the top's 302 named.
  const auto top = province_tree();
  ASSERT_TRUE(top.is_object()) << read_file(province_->log());
  EXPECT_EQ(top["aor"], "C1@");
  EXPECT_TRUE(top["parent"].is_null()) << top.dump();
  for (int d = 0; d < 2; ++d) {
    const std::string community = d == 0 ? "D1" : "D2";
    EXPECT_TRUE(child_online(top, community + "@C1")) << top.dump();
    const auto mine = community_tree(d);
    EXPECT_NE(mine.value("parent", nlohmann::json("")).dump().find(address_of(*province_)), std::string::npos)
        << mine.dump();
    for (int h = 0; h < 2; ++h) {
      const std::string family = (h == 0 ? "H1@C1." : "H2@C1.") + community;
      EXPECT_TRUE(child_online(mine, family)) << mine.dump();
      const auto theirs = family_tree(d, h);
      EXPECT_EQ(theirs["aor"], family) << theirs.dump();
      EXPECT_EQ(theirs["child_domain"], "C1." + community + (h == 0 ? ".H1" : ".H2")) << theirs.dump();
      EXPECT_NE(theirs.value("parent", nlohmann::json("")).dump().find(address_of(*communities_[d])),
                std::string::npos)
          << theirs.dump();
    }
  }
  EXPECT_EQ(register_status(province_->port(), "D9@C1"), 200);  // a community may register at the top
  int failures = 0;
  for (const std::string family : {"C1.D1.H1", "C1.D1.H2", "C1.D2.H1", "C1.D2.H2"}) {
    for (int u = 1; u <= 5; ++u) {
      std::string out;
      if (redirect_register("U" + std::to_string(u), family, &out) != 0) {
        ++failures;
        ADD_FAILURE() << "U" << u << "@" << family << ":\n" << out.substr(0, 3000);
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

// `homesipctl locate` at any server follows the tree to the family server.
TEST_F(ManagementTree, LocateAtAnyServerFindsTheFamilyServer) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_EQ(redirect_register("U5", "C1.D2.H1"), 0);
  std::string out;
  ASSERT_EQ(run({homesipctl(), "--socket", socket_of("H2", "C1.D1"), "--json", "locate", "U5@C1.D2.H1"}, &out,
                std::chrono::seconds(10)),
            0)
      << out;
  const auto found = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(found.is_object()) << out;
  EXPECT_EQ(found["status"], 302) << out;
  EXPECT_NE(found["family_server"].dump().find(address_of(*families_[2])), std::string::npos) << out;
  ASSERT_EQ(found["contacts"].size(), 1u) << out;
  EXPECT_EQ(found["baresip"],
            "<sip:U5@C1.D2.H1>;outbound=\"sip:" + address_of(*families_[2]) + "\";regint=600")
      << out;
  EXPECT_EQ(found["linphone"]["reg_identity"], "sip:U5@C1.D2.H1") << out;
}

// A plain RFC 3261 client (not homesip-ua), scripted here over a UDP socket:
// on each 302 it replaces the Request-URI with the Contact and keeps To
// (8.1.3.4). From family H2 of D1 to U1 of family H1 of D2: H2 -> the top (one
// 302 for any name outside its subtree) -> D2 -> H1 -> the callee's contact,
// each server hop recognising a request addressed to itself and deciding by To.
TEST_F(ManagementTree, APlainClientFollowingContactsReachesTheCalleeAcrossTheTree) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  UdpSocket callee;
  const std::string callee_contact = "sip:U1@127.0.0.1:" + std::to_string(callee.port());
  const std::string registered = udp_exchange(
      families_[2]->port(),
      "REGISTER sip:C1.D2.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bKplain-reg\n"
      "Max-Forwards: 70\nFrom: <sip:U1@C1.D2.H1>;tag=r\nTo: <sip:U1@C1.D2.H1>\nCall-ID: plain-reg\n"
      "CSeq: 1 REGISTER\nContact: <" +
          callee_contact + ">\nExpires: 600\nContent-Length: 0\n\n");
  ASSERT_EQ(status_of(registered), 200) << registered;

  UdpSocket caller;
  const std::string to = "<sip:U1@C1.D2.H1>";
  std::string request_uri = "sip:U1@C1.D2.H1";
  uint16_t next_port = families_[1]->port();  // the caller's family server, H2@C1.D1
  std::vector<std::string> hops;              // the Request-URIs of the 302'd requests
  auto invite = [&](int cseq) {
    return "INVITE " + request_uri +
           " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(caller.port()) +
           ";rport;branch=z9hG4bKplain-" + std::to_string(cseq) +
           "\r\nMax-Forwards: 70\r\nFrom: <sip:U2@C1.D1.H2>;tag=plain\r\nTo: " + to +
           "\r\nCall-ID: plain-client@127.0.0.1\r\nCSeq: " + std::to_string(cseq) +
           " INVITE\r\nContact: <sip:U2@127.0.0.1:" + std::to_string(caller.port()) +
           ">\r\nContent-Length: 0\r\n\r\n";
  };
  std::string at_callee;
  for (int cseq = 1; cseq <= 6 && at_callee.empty(); ++cseq) {
    caller.send(next_port, invite(cseq));
    if (next_port == callee.port()) {
      at_callee = callee.receive(std::chrono::seconds(3));
      break;
    }
    std::string response;
    for (int i = 0; i < 5 && (response.empty() || status_of(response) < 200); ++i)
      response = caller.receive(std::chrono::seconds(3));
    ASSERT_EQ(status_of(response), 302) << "hop " << cseq << " (" << request_uri << "):\n" << response;
    hops.push_back(request_uri);
    const std::string contact = header_value(response, "Contact");
    const auto open = contact.find('<'), close = contact.find('>');
    request_uri = open == std::string::npos ? contact : contact.substr(open + 1, close - open - 1);
    const auto colon = request_uri.rfind(':');
    next_port = static_cast<uint16_t>(std::atoi(request_uri.c_str() + colon + 1));
    ASSERT_GT(next_port, 0) << request_uri;
  }
  ASSERT_FALSE(at_callee.empty()) << "hops: " << ::testing::PrintToString(hops);
  // H2, then the top (by its address), D2 and H1 (by their contacts), then the callee.
  ASSERT_EQ(hops.size(), 4u) << ::testing::PrintToString(hops);
  EXPECT_EQ(hops[0], "sip:U1@C1.D2.H1");
  EXPECT_NE(hops[1].find(address_of(*province_)), std::string::npos) << hops[1];
  EXPECT_NE(hops[2].find(address_of(*communities_[1])), std::string::npos) << hops[2];
  EXPECT_NE(hops[3].find(address_of(*families_[2])), std::string::npos) << hops[3];
  EXPECT_EQ(at_callee.rfind("INVITE " + callee_contact + " SIP/2.0\r\n", 0), 0u) << at_callee;
  EXPECT_EQ(header_value(at_callee, "To"), to) << at_callee;
  // The callee answers the caller straight (its Via): the call is up.
  callee.send(caller.port(), ok_for(at_callee, "Contact: <" + callee_contact + ">\r\n"));
  const std::string ok = caller.receive(std::chrono::seconds(3));
  EXPECT_EQ(status_of(ok), 200) << ok;
  EXPECT_EQ(header_value(ok, "Call-ID"), "plain-client@127.0.0.1") << ok;
}

// SIGKILL of a community: no goodbye, so the top finds out by its keepalives:
// offline within interval x misses (+2 s), its subtree answered 404 at once;
// online again when it is back.
TEST_F(ManagementTree, KilledCommunityIsOfflineAtTheTopWithinTheKeepaliveTimeAndBackAfterRestart) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(child_online(province_tree(), "D2@C1")) << province_tree().dump();
  communities_[1]->kill9();
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !child_online(province_tree(), "D2@C1"); }, kOfflineWithin))
      << province_tree().dump();
  const auto offline_after = std::chrono::steady_clock::now() - killed;
  const auto child = child_in(province_tree(), "D2@C1");
  EXPECT_TRUE(child.is_object()) << "a dead child stays listed, offline: " << province_tree().dump();
  EXPECT_EQ(child.value("online", true), false) << child.dump();
  // Its subtree is answered at once (no wait for a dead server), with 404.
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D2.H1"), 404);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(500));
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D1.H1"), 302);  // the other branch is unaffected
  EXPECT_LE(offline_after, kOfflineWithin);

  communities_[1]->start();  // same store file: it still knows its families
  EXPECT_TRUE(eventually([&] { return child_online(province_tree(), "D2@C1"); }, std::chrono::seconds(10)))
      << province_tree().dump();
  EXPECT_TRUE(eventually([&] { return redirect_register("U3", "C1.D2.H1") == 0; }, std::chrono::seconds(20)));
}

// SIGTERM of a family: it unregisters on the way out, so its community shows
// it gone (or offline) at once, long before a keepalive could tell and long
// before its lease would end.
class ManagementTreeSlowKeepalive : public ManagementTree {
 protected:
  ManagementTreeSlowKeepalive() { tree_settings_ = "    keepalive_interval: 60\n"; }
};

TEST_F(ManagementTreeSlowKeepalive, StoppedFamilyUnregistersAtOnceAndIsFoundAgainWhenBack) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(child_online(community_tree(0), "H2@C1.D1")) << community_tree(0).dump();
  ASSERT_EQ(register_status(communities_[0]->port(), "U1@C1.D1.H2"), 302);  // online before it leaves
  EXPECT_EQ(families_[1]->stop(), 0);                                       // H2@C1.D1 leaves
  // The goodbye is answered before the family exits, as a rule: D1 knows at
  // once. Under load D1's answer (its store commits first) may take longer
  // than the 500 ms homesipd waits for it at exit; D1 still acts on it, long
  // before the 60 s keepalive or the lease could tell.
  EXPECT_TRUE(
      eventually([&] { return !child_online(community_tree(0), "H2@C1.D1"); }, std::chrono::seconds(5)))
      << community_tree(0).dump();
  EXPECT_EQ(register_status(communities_[0]->port(), "U1@C1.D1.H2"), 404);
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D1.H2"), 302);  // D1 itself is still online
  std::string out;
  SippRun offline{"redirect_register_404.xml", province_->port()};  // 302 at C1, then exactly 404 at D1
  offline.keys = {{"user", "U1"}, {"domain", "C1.D1.H2"}};
  EXPECT_EQ(sipp(offline, &out), 0) << out.substr(0, 3000);
  families_[1]->start();
  EXPECT_TRUE(eventually([&] { return redirect_register("U1", "C1.D1.H2") == 0; }, std::chrono::seconds(20)));
  EXPECT_TRUE(child_online(community_tree(0), "H2@C1.D1")) << community_tree(0).dump();
}

// SIGTERM of a community: it unregisters from the top, long before its lease ends.
TEST_F(ManagementTreeSlowKeepalive, StoppedCommunityGives404AtTheTopAtOnce) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_EQ(register_status(province_->port(), "U1@C1.D2.H1"), 302);
  EXPECT_EQ(communities_[1]->stop(), 0);
  // At once as a rule; under load within moments (see the family's case above).
  EXPECT_TRUE(eventually([&] { return !child_online(province_tree(), "D2@C1"); }, std::chrono::seconds(5)))
      << province_tree().dump();
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D2.H1"), 404);
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D1.H1"), 302);  // the other branch is unaffected
}

TEST_F(ManagementTree, NamesOutsideTheTreeAreRefused) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  EXPECT_EQ(register_status(province_->port(), "U1@C2.D1.H1"), 404);        // another province
  EXPECT_EQ(register_status(communities_[0]->port(), "U1@C1.D2.H1"), 404);  // a sibling's family
  // Not a valid name: no server will ever serve it, so 404 too, with its own reason.
  const auto invalid = udp_exchange(province_->port(), raw_register("U.1@C1.D1.H1", "invalid-name"));
  EXPECT_EQ(status_of(invalid), 404) << invalid;
  EXPECT_NE(invalid.find(" 404 Not A Name In This Tree\r\n"), std::string::npos) << invalid;
  // A user cannot register at another family.
  EXPECT_EQ(register_status(families_[0]->port(), "U1@C1.D1.H2"), 404);
}

// The top reached over TCP: the upward REGISTER goes over a connection the
// child opens, and the child listens on no TCP port besides its own listener.
TEST(TopOverTcp, ACommunityRegistersWithItsProvinceOverTcp) {
  TempDir dir;
  const std::string province_socket = (dir / "c1.sock").string();
  HomesipServer province(dir, ServerOptions{"C1", "", tier_plugins(dir, "C1", "", ""),
                                            "  admin_socket: " + province_socket + "\n"});
  province.start();
  const std::string top = "sip:127.0.0.1:" + std::to_string(province.port()) + ";transport=tcp";
  HomesipServer community(dir,
                          ServerOptions{"D1", "C1", tier_plugins(dir, "D1", "C1", "\"" + top + "\""), ""});
  community.start();
  EXPECT_TRUE(
      eventually([&] { return child_online(tree_of(province_socket), "D1@C1"); }, std::chrono::seconds(5)))
      << read_file(community.log());
  // A user of the community is redirected there by the province: it is online.
  EXPECT_EQ(register_status(province.port(), "U1@C1.D1"), 302);
  std::string listening;
  ASSERT_EQ(run({"ss", "-Htlnp"}, &listening), 0);
  size_t sockets = 0;
  const std::string owner = "pid=" + std::to_string(community.pid()) + ",";
  for (size_t at = 0; (at = listening.find(owner, at)) != std::string::npos; ++at) ++sockets;
  EXPECT_EQ(sockets, 1u) << listening;
}

// A server behind NAT is reached where its parent saw its REGISTER come from:
// the SDK client's port. Requests arriving there are served like any other.
TEST(BehindNat, ARequestOnTheUpwardRegistrationPortIsServed) {
  TempDir dir;
  UdpSocket parent;  // stands in for the top: only reads the REGISTER's Via
  HomesipServer family(
      dir,
      ServerOptions{"H1", "C1.D1",
                    tier_plugins(dir, "H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(parent.port())), ""});
  family.start();
  const std::string register_request = parent.receive(std::chrono::seconds(5));
  ASSERT_NE(register_request.find("REGISTER "), std::string::npos) << register_request;
  const int client_port = via_port(register_request);
  ASSERT_GT(client_port, 0);
  ASSERT_NE(client_port, family.port());
  parent.send(
      static_cast<uint16_t>(client_port),
      "OPTIONS sip:H1@C1.D1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(parent.port()) +
          ";rport;branch=z9hG4bK-nat\r\nMax-Forwards: 70\r\nFrom: <sip:D1@C1>;tag=n\r\n"
          "To: <sip:H1@C1.D1>\r\nCall-ID: behind-nat\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  std::string response;
  for (int i = 0; i < 10 && response.find("behind-nat") == std::string::npos; ++i)
    response = parent.receive(std::chrono::seconds(2));  // skips the REGISTER's retransmissions
  EXPECT_EQ(status_of(response), 200) << response;
  // Answered by the core's encoder (its Server header), back to where the request came from.
  EXPECT_NE(response.find("branch=z9hG4bK-nat;rport=" + std::to_string(parent.port())), std::string::npos)
      << response;
  EXPECT_NE(response.find("\r\nServer: homesip/"), std::string::npos) << response;
}

// The expiry a parent grants is read only from a valid delta-seconds: "abc"
// once read as 0 and made the server refresh every 2 s.
TEST(UpwardRegistration, AGrantedExpiresThatIsNoNumberIsIgnored) {
  TempDir dir;
  UdpSocket parent;
  HomesipServer family(
      dir, ServerOptions{"H1", "C1.D1",
                         tier_plugins(dir, "H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(parent.port()),
                                      "    register_expires: 300\n"),
                         ""});
  family.start();
  const std::string request = parent.receive(std::chrono::seconds(5));
  ASSERT_NE(request.find("REGISTER "), std::string::npos) << request;
  EXPECT_EQ(header_value(request, "Expires"), "300") << request;
  parent.send(
      via_port(request),
      ok_for(request, "Contact: <sip:H1@127.0.0.1:" + std::to_string(family.port()) + ">;expires=abc\r\n"));
  // Asked for 300 s: no refresh comes within the next seconds (an "abc" read
  // as 0 would bring one at once; a retransmission of the first has its CSeq).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string again = parent.receive(std::chrono::milliseconds(500));
    if (again.empty()) continue;
    EXPECT_EQ(header_value(again, "CSeq"), header_value(request, "CSeq")) << "refreshed at once:\n" << again;
  }
}

// SIGTERM: the goodbye reaches the parent as a REGISTER with Expires: 0 in
// the registration's own Call-ID and From tag, one CSeq higher, and the
// server waits for that answer before it exits. Its User-Agent says it is a
// server (homesipd/...), which is how a parent tells child servers from users.
TEST(UpwardRegistration, SigtermUnregistersAtTheParentInTheSameCall) {
  TempDir dir;
  UdpSocket parent;
  const std::string parent_uri = "sip:127.0.0.1:" + std::to_string(parent.port());
  HomesipServer family(dir, ServerOptions{"H1", "C1.D1", tier_plugins(dir, "H1", "C1.D1", parent_uri), ""});
  family.start();
  const std::string registration = parent.receive(std::chrono::seconds(5));
  ASSERT_EQ(registration.rfind("REGISTER " + parent_uri + " SIP/2.0\r\n", 0), 0u) << registration;
  EXPECT_EQ(header_value(registration, "User-Agent").rfind("homesipd/", 0), 0u) << registration;
  EXPECT_EQ(header_value(registration, "To").find("sip:H1@C1.D1"), 1u) << registration;
  parent.send(via_port(registration),
              ok_for(registration, "Contact: " + header_value(registration, "Contact") + ";expires=600\r\n"));
  // Retransmissions of the first REGISTER may still come; then nothing until the stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  while (!parent.receive(std::chrono::milliseconds(200)).empty()) {
  }

  int exit_code = -1;
  std::thread stopping([&] { exit_code = family.stop(); });
  std::string goodbye = parent.receive(std::chrono::seconds(5));
  if (!goodbye.empty()) parent.send(via_port(goodbye), ok_for(goodbye));
  stopping.join();
  ASSERT_FALSE(goodbye.empty()) << read_file(family.log());
  EXPECT_EQ(goodbye.rfind("REGISTER " + parent_uri + " SIP/2.0\r\n", 0), 0u) << goodbye;
  EXPECT_EQ(header_value(goodbye, "Expires"), "0");
  EXPECT_EQ(header_value(goodbye, "Contact"), header_value(registration, "Contact"));
  EXPECT_EQ(header_value(goodbye, "Call-ID"), header_value(registration, "Call-ID"));
  EXPECT_EQ(header_value(goodbye, "From"), header_value(registration, "From"));
  EXPECT_EQ(std::stoul(header_value(goodbye, "CSeq")), std::stoul(header_value(registration, "CSeq")) + 1);
  EXPECT_EQ(exit_code, 0);
}
