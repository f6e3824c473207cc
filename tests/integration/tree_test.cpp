// The management network on loopback (paper, Fig. 2 and 4): a province, two
// communities and four families, each a homesipd started from config alone.
// Servers register upward by themselves; users register through the top with
// exactly two redirects.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

std::string tier_plugins(const TempDir& dir, const std::string& name, const std::string& child_domain,
                         const std::string& parent_contact) {
  std::string yaml = "  - plugin: location-sqlite\n    path: " + (dir / (name + ".sqlite")).string() +
                     "\n  - plugin: redirect\n";
  if (!parent_contact.empty()) yaml += "    parent_contact: " + parent_contact + "\n";
  return yaml + "  - plugin: registrar\n    domains: [" + child_domain + "]\n    min_expires: 10\n";
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

bool eventually(const std::function<bool()>& check, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

class ManagementTree : public ::testing::Test {
 protected:
  void SetUp() override {
    province_ = make("C1", "", "C1", "");
    const std::string top = "sip:127.0.0.1:" + std::to_string(province_->port());
    for (const std::string d : {"D1", "D2"}) {
      communities_.push_back(make(d, "C1", "C1." + d, top));
      const std::string up = "sip:127.0.0.1:" + std::to_string(communities_.back()->port());
      for (const std::string h : {"H1", "H2"})
        families_.push_back(make(h, "C1." + d, "C1." + d + "." + h, top, up, family_register_expires_));
    }
    // Bottom up, the top last: order must not matter.
    for (auto& f : families_) f->start();
    for (auto& c : communities_) c->start();
    province_->start();
  }

  std::unique_ptr<HomesipServer> make(const std::string& name, const std::string& domain,
                                      const std::string& child_domain, const std::string& top,
                                      const std::string& up = "", int register_expires = kLongLease) {
    std::string server_yaml = "  register_expires: " + std::to_string(register_expires) + "\n";
    if (!top.empty()) server_yaml += "  parent: " + top + "\n";
    return std::make_unique<HomesipServer>(
        dir_, ServerOptions{name, domain, tier_plugins(dir_, name + domain, child_domain, up), server_yaml});
  }

  // Every family reachable: a user REGISTER at the top is redirected (302).
  bool tree_is_up() {
    for (const std::string aor : {"x@C1.D1.H1", "x@C1.D1.H2", "x@C1.D2.H1", "x@C1.D2.H2"})
      if (register_status(province_->port(), aor) != 302) return false;
    // ...and each community redirects to its online family.
    return register_status(communities_[0]->port(), "x@C1.D1.H1") == 302 &&
           register_status(communities_[1]->port(), "x@C1.D2.H2") == 302;
  }

  int redirect_register(const std::string& user, const std::string& domain, std::string* out = nullptr) {
    SippRun r{"redirect_register.xml", province_->port()};
    r.keys = {{"user", user}, {"domain", domain}};
    return sipp(r, out);
  }

  // The rest of the first line of `server`'s log after `start` ("" when none).
  static std::string log_line(const HomesipServer& server, const std::string& start) {
    const std::string log = read_file(server.log());
    const auto at = log.find(start);
    if (at == std::string::npos) return {};
    const auto end = log.find('\n', at);
    return log.substr(at + start.size(),
                      end == std::string::npos ? std::string::npos : end - at - start.size());
  }
  // True when `server` logged that its parent granted `aor` a lease of `seconds`:
  // without an unregister, the parent forgets it only that long after a refresh.
  static bool registered_for(const HomesipServer& server, const std::string& aor, int seconds) {
    return log_line(server, "registered " + aor + " with ")
        .ends_with(" for " + std::to_string(seconds) + "s");
  }

  // Where `server` registered `aor` (the URI after "registered <aor> with "), "" when it has not.
  static std::string registrar_of(const HomesipServer& server, const std::string& aor) {
    const std::string line = log_line(server, "registered " + aor + " with ");
    return line.substr(0, line.find(" for "));
  }
  std::string contact_of(const std::string& name, const HomesipServer& server) const {
    return "sip:" + name + "@127.0.0.1:" + std::to_string(server.port());
  }

  // The lease every server asks its parent for: so long that a 404 within
  // seconds of a server leaving can only come from its unregister.
  static constexpr int kLongLease = 600;
  int family_register_expires_ = kLongLease;

  TempDir dir_;
  std::unique_ptr<HomesipServer> province_;
  std::vector<std::unique_ptr<HomesipServer>> communities_;
  std::vector<std::unique_ptr<HomesipServer>> families_;  // D1/H1, D1/H2, D2/H1, D2/H2
};

}  // namespace

TEST_F(ManagementTree, ComesUpFromConfigAndTwentyUsersRegisterWithTwoRedirects) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)))
      << read_file(families_[0]->log());
  // Servers' own registrations: communities at the top, families at their
  // community, which the top's 302 named (its contact, as it registered it).
  const std::string top = "sip:127.0.0.1:" + std::to_string(province_->port());
  for (size_t d = 0; d < communities_.size(); ++d) {
    const std::string community = d == 0 ? "D1" : "D2";
    EXPECT_EQ(registrar_of(*communities_[d], community + "@C1"), top);
    for (size_t h = 0; h < 2; ++h) {
      const auto& family = *families_[d * 2 + h];
      EXPECT_EQ(registrar_of(family, (h == 0 ? "H1@C1." : "H2@C1.") + community),
                contact_of(community, *communities_[d]))
          << read_file(family.log());
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

// SIGTERM: the family unregisters on the way out. Its lease at D1 has ~600 s
// left, so a 404 within seconds proves the unregister, not expiry.
TEST_F(ManagementTree, OfflineFamilyGives404AndIsFoundAgainWhenBack) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(eventually([&] { return registered_for(*families_[1], "H2@C1.D1", kLongLease); },
                         std::chrono::seconds(5)))
      << read_file(families_[1]->log());
  ASSERT_EQ(register_status(communities_[0]->port(), "U1@C1.D1.H2"), 302);  // online before it leaves
  EXPECT_EQ(families_[1]->stop(), 0);                                       // H2@C1.D1 leaves
  // The goodbye went to D1, where it registered, and D1 answered it before the family exited.
  EXPECT_EQ(log_line(*families_[1], "unregistered H2@C1.D1 from "),
            contact_of("D1", *communities_[0]) + ": 200")
      << read_file(families_[1]->log());
  EXPECT_TRUE(eventually([&] { return register_status(communities_[0]->port(), "U1@C1.D1.H2") == 404; },
                         std::chrono::seconds(3)))
      << "D1 still redirects to the stopped family: its unregister was not applied";
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D1.H2"), 302);  // D1 itself is still online
  std::string out;
  SippRun offline{"redirect_register_404.xml", province_->port()};  // 302 at C1, then exactly 404 at D1
  offline.keys = {{"user", "U1"}, {"domain", "C1.D1.H2"}};
  EXPECT_EQ(sipp(offline, &out), 0) << out.substr(0, 3000);
  families_[1]->start();
  EXPECT_TRUE(eventually([&] { return redirect_register("U1", "C1.D1.H2") == 0; }, std::chrono::seconds(20)));
}

// kill -9: no unregister, so D1 keeps redirecting to the dead family until its
// lease runs out. A short lease here (15 s, refreshed every 10 s) leaves at
// least 5 s after the kill, and at most 15 s.
class ManagementTreeShortFamilyLease : public ManagementTree {
 protected:
  static constexpr int kShortLease = 15;
  ManagementTreeShortFamilyLease() { family_register_expires_ = kShortLease; }
};

TEST_F(ManagementTreeShortFamilyLease, KilledFamilyStaysOnlineUntilItsLeaseExpires) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(eventually([&] { return registered_for(*families_[1], "H2@C1.D1", kShortLease); },
                         std::chrono::seconds(5)))
      << read_file(families_[1]->log());
  families_[1]->kill9();
  // Past the time a SIGTERM's unregister takes effect (the test above: < 3 s),
  // still before the lease can have expired (>= 5 s left at the kill).
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(register_status(communities_[0]->port(), "U1@C1.D1.H2"), 302)
      << "D1 forgot the killed family before its lease expired";
  EXPECT_TRUE(eventually([&] { return register_status(communities_[0]->port(), "U1@C1.D1.H2") == 404; },
                         std::chrono::seconds(kShortLease + 3)))
      << "D1 still redirects to the family " << kShortLease + 3 << " s after the kill";
}

// SIGTERM of a community: it unregisters from the top, long before its 600 s lease ends.
TEST_F(ManagementTree, OfflineCommunityGives404AtTheTop) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(eventually([&] { return registered_for(*communities_[1], "D2@C1", kLongLease); },
                         std::chrono::seconds(5)))
      << read_file(communities_[1]->log());
  ASSERT_EQ(register_status(province_->port(), "U1@C1.D2.H1"), 302);
  EXPECT_EQ(communities_[1]->stop(), 0);
  EXPECT_EQ(log_line(*communities_[1], "unregistered D2@C1 from "),
            "sip:127.0.0.1:" + std::to_string(province_->port()) + ": 200")
      << read_file(communities_[1]->log());
  EXPECT_TRUE(eventually([&] { return register_status(province_->port(), "U1@C1.D2.H1") == 404; },
                         std::chrono::seconds(3)))
      << "C1 still redirects to the stopped community: its unregister was not applied";
  EXPECT_EQ(register_status(province_->port(), "U1@C1.D1.H1"), 302);  // the other branch is unaffected
}

TEST_F(ManagementTree, RestartedCommunityIsFoundAgain) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  communities_[0]->kill9();  // no goodbye: its binding at the top stays until it expires
  communities_[0]->start();  // same store file: it still knows its families
  EXPECT_TRUE(eventually([&] { return redirect_register("U3", "C1.D1.H1") == 0; }, std::chrono::seconds(20)));
}

TEST_F(ManagementTree, NamesOutsideTheTreeAreRefused) {
  ASSERT_TRUE(eventually([&] { return tree_is_up(); }, std::chrono::seconds(30)));
  EXPECT_EQ(register_status(province_->port(), "U1@C2.D1.H1"), 404);        // another province
  EXPECT_EQ(register_status(communities_[0]->port(), "U1@C1.D2.H1"), 404);  // a sibling's family
  // Not a valid name: no server will ever serve it, so 404 too, with its own reason.
  const auto invalid = udp_exchange(province_->port(), raw_register("U.1@C1.D1.H1", "invalid-name"));
  EXPECT_EQ(status_of(invalid), 404) << invalid;
  EXPECT_NE(invalid.find(" 404 Not A Name In This Tree\r\n"), std::string::npos) << invalid;
  // A user cannot register at a community: its REGISTER names a family below.
  EXPECT_EQ(register_status(families_[0]->port(), "U1@C1.D1.H2"), 404);
}

// A parent reached over TCP: the upward REGISTER goes over a connection the
// child opens, and the child listens on no TCP port besides its own listener.
TEST(ParentOverTcp, ACommunityRegistersWithItsProvinceOverTcp) {
  TempDir dir;
  HomesipServer province(dir, ServerOptions{"C1", "", tier_plugins(dir, "C1", "C1", ""), ""});
  province.start();
  const std::string parent = "sip:127.0.0.1:" + std::to_string(province.port()) + ";transport=tcp";
  HomesipServer community(dir, ServerOptions{"D1", "C1", tier_plugins(dir, "D1", "C1.D1", parent),
                                             "  parent: \"" + parent + "\"\n"});
  community.start();
  EXPECT_TRUE(eventually(
      [&] { return read_file(community.log()).find("registered D1@C1 with " + parent) != std::string::npos; },
      std::chrono::seconds(5)))
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
// nta's client port. Requests arriving there are served like any other.
TEST(BehindNat, ARequestOnTheUpwardRegistrationPortIsServed) {
  TempDir dir;
  UdpSocket parent;  // stands in for the parent: only reads the REGISTER's Via
  HomesipServer family(dir, ServerOptions{"H1", "C1.D1", tier_plugins(dir, "H1", "C1.D1.H1", ""),
                                          "  parent: sip:127.0.0.1:" + std::to_string(parent.port()) + "\n"});
  family.start();
  const std::string register_request = parent.receive(std::chrono::seconds(5));
  ASSERT_NE(register_request.find("REGISTER "), std::string::npos) << register_request;
  const auto via = register_request.find("Via: SIP/2.0/UDP 127.0.0.1:");
  ASSERT_NE(via, std::string::npos) << register_request;
  const int client_port = std::atoi(register_request.c_str() + via + 27);
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
  HomesipServer family(dir, ServerOptions{"H1", "C1.D1", tier_plugins(dir, "H1", "C1.D1.H1", ""),
                                          "  parent: sip:127.0.0.1:" + std::to_string(parent.port()) +
                                              "\n  register_expires: 300\n"});
  family.start();
  const std::string request = parent.receive(std::chrono::seconds(5));
  ASSERT_NE(request.find("REGISTER "), std::string::npos) << request;
  // The 200 echoes the request's Via, From, To, Call-ID and CSeq lines.
  std::string ok = "SIP/2.0 200 OK\r\n";
  std::istringstream lines(request);
  for (std::string line; std::getline(lines, line);) {
    for (const char* name : {"Via:", "From:", "To:", "Call-ID:", "CSeq:"})
      if (line.rfind(name, 0) == 0) ok += line + "\n";
  }
  const auto via = request.find("Via: SIP/2.0/UDP 127.0.0.1:");
  ASSERT_NE(via, std::string::npos);
  const int client_port = std::atoi(request.c_str() + via + 27);
  ok += "Contact: <sip:H1@127.0.0.1:" + std::to_string(family.port()) +
        ">;expires=abc\r\nContent-Length: 0\r\n\r\n";
  parent.send(static_cast<uint16_t>(client_port), ok);
  EXPECT_TRUE(eventually(
      [&] { return read_file(family.log()).find("registered H1@C1.D1 with") != std::string::npos; },
      std::chrono::seconds(5)));
  const std::string log = read_file(family.log());
  EXPECT_NE(log.find(" for 300s"), std::string::npos) << log;
}

// SIGTERM: the goodbye reaches the parent as a REGISTER with Expires: 0 in
// the registration's own Call-ID and From tag, one CSeq higher, and the
// server waits for that answer before it exits.
TEST(UpwardRegistration, SigtermUnregistersAtTheParentInTheSameCall) {
  TempDir dir;
  UdpSocket parent;
  const std::string parent_uri = "sip:127.0.0.1:" + std::to_string(parent.port());
  HomesipServer family(dir, ServerOptions{"H1", "C1.D1", tier_plugins(dir, "H1", "C1.D1.H1", ""),
                                          "  parent: " + parent_uri + "\n"});
  family.start();
  const std::string registration = parent.receive(std::chrono::seconds(5));
  ASSERT_EQ(registration.rfind("REGISTER " + parent_uri + " SIP/2.0\r\n", 0), 0u) << registration;
  parent.send(via_port(registration),
              ok_for(registration, "Contact: " + header_value(registration, "Contact") + ";expires=600\r\n"));
  ASSERT_TRUE(eventually(
      [&] {
        return read_file(family.log()).find("registered H1@C1.D1 with " + parent_uri) != std::string::npos;
      },
      std::chrono::seconds(5)))
      << read_file(family.log());

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
  const std::string log = read_file(family.log());
  EXPECT_NE(log.find("unregistered H1@C1.D1 from " + parent_uri + ": 200"), std::string::npos) << log;
}
