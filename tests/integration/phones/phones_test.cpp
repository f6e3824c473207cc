// Ordinary phones across the management network (issue 12): baresip and
// linphonec, set up as docs/phones.md says (AOR in the tree, the family server
// as registrar and outbound proxy), call users of another family. The family
// server resolves the callee through the tree and forwards the INVITE
// statelessly; the 200, ACK and BYE go phone to phone. Each call must be
// established on both sides, last, and end with a BYE both sides report.
//
// The tree: C1 (top), D1@C1, D2@C1, H1@C1.D1, H2@C1.D2, each a homesipd on a
// free UDP port of 127.0.0.1 with location-sqlite, tree and registrar.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>

#include "phone.hpp"
#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return check();
}

// Status of a REGISTER for a probe user of `domain` sent to `port`: 302 from
// a server above the family when the way down is online.
int probe_register(uint16_t port, const std::string& domain) {
  static int sequence = 0;
  const std::string id = "phones-probe-" + std::to_string(++sequence);
  return status_of(udp_exchange(port,
                                "REGISTER sip:" + domain +
                                    " SIP/2.0\n"
                                    "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK" +
                                    id + "\nMax-Forwards: 70\nFrom: <sip:probe@" + domain +
                                    ">;tag=p\nTo: <sip:probe@" + domain + ">\nCall-ID: " + id +
                                    "\nCSeq: 1 REGISTER\nContact: <sip:probe@127.0.0.1:$PORT$>\n"
                                    "Expires: 60\nContent-Length: 0\n\n",
                                1s));
}

enum class Program { kBaresip, kLinphone };

class PhonesAcrossTheTree : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* program : {"baresip", "linphonec", "stdbuf"})
      if (!installed(program))
        GTEST_SKIP() << program << " is not installed (apt-get install baresip linphone-cli)";
    // Top first, families last: the tree is up sooner, though any order works.
    top_ = make("C1", "", "");
    const std::string top_uri = "sip:127.0.0.1:" + std::to_string(top_->port());
    d1_ = make("D1", "C1", top_uri);
    d2_ = make("D2", "C1", top_uri);
    h1_ = make("H1", "C1.D1", top_uri);
    h2_ = make("H2", "C1.D2", top_uri);
    for (auto* server : {top_.get(), d1_.get(), d2_.get(), h1_.get(), h2_.get()}) server->start();
    ASSERT_TRUE(eventually([&] { return tree_is_up(); }, 30s))
        << "H1 log:\n"
        << read_file(h1_->log()).substr(0, 4000) << "\nH2 log:\n"
        << read_file(h2_->log()).substr(0, 4000);
  }

  void TearDown() override {
    // Phones first (they unregister), then the servers, by PID.
    for (auto& phone : phones_) phone->quit();
    phones_.clear();
  }

  std::unique_ptr<HomesipServer> make(const std::string& name, const std::string& domain,
                                      const std::string& top) {
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / (name + domain + ".sqlite")).string() + "\n" +
        tree_plugin_yaml(name, domain, top) + "  - plugin: registrar\n    min_expires: 10\n";
    return std::make_unique<HomesipServer>(dir_, ServerOptions{name, domain, plugins, ""});
  }

  // Both families registered upward: the top redirects down to their
  // community, and each community down to its family.
  bool tree_is_up() {
    return probe_register(top_->port(), "C1.D1.H1") == 302 &&
           probe_register(top_->port(), "C1.D2.H2") == 302 &&
           probe_register(d1_->port(), "C1.D1.H1") == 302 && probe_register(d2_->port(), "C1.D2.H2") == 302;
  }

  // A phone of `program` for user@domain at the family server on `family_port`, started and registered.
  Phone& registered_phone(Program program, const std::string& user, const std::string& domain,
                          uint16_t family_port) {
    PhoneSetup setup{user, domain, family_port, dir_ / (user + "." + domain)};
    std::unique_ptr<Phone> phone;
    if (program == Program::kBaresip)
      phone = std::make_unique<Baresip>(setup);
    else
      phone = std::make_unique<Linphone>(setup);
    phone->start();
    phones_.push_back(std::move(phone));
    Phone& started = *phones_.back();
    EXPECT_TRUE(eventually([&] { return started.registered(); }, 10s))
        << started.program() << " " << started.aor() << " did not register at its family server:\n"
        << started.output();
    return started;
  }

  // `caller` calls `callee`; the call is established on both sides, is still
  // up two seconds later, and after the caller hangs up both report a normal
  // end (a BYE, no error status).
  void call_and_hang_up(Phone& caller, Phone& callee) {
    caller.dial("sip:" + callee.aor());
    ASSERT_TRUE(eventually([&] { return caller.established() && callee.established(); }, 10s))
        << "caller " << caller.program() << ":\n"
        << caller.output() << "\ncallee " << callee.program() << ":\n"
        << callee.output() << "\nH1:\n"
        << read_file(h1_->log()).substr(0, 6000) << "\nH2:\n"
        << read_file(h2_->log()).substr(0, 6000);
    std::this_thread::sleep_for(2s);
    EXPECT_FALSE(caller.ended() || caller.failed()) << caller.output();
    EXPECT_FALSE(callee.ended() || callee.failed()) << callee.output();

    caller.hang_up();
    EXPECT_TRUE(eventually([&] { return caller.ended() && callee.ended(); }, 5s))
        << "caller " << caller.program() << ":\n"
        << caller.output() << "\ncallee " << callee.program() << ":\n"
        << callee.output();
    EXPECT_FALSE(caller.failed()) << caller.output();
    EXPECT_FALSE(callee.failed()) << callee.output();
    // The way it went: the caller's family server resolved the callee through
    // the tree and forwarded the INVITE (its debug log says so).
    const std::string family_log = read_file(family_at(caller.family_port()).log());
    EXPECT_NE(family_log.find("phone INVITE " + callee.aor() + " forwarded to "), std::string::npos)
        << family_log;
  }

  HomesipServer& family_at(uint16_t port) { return port == h1_->port() ? *h1_ : *h2_; }

  TempDir dir_;
  std::unique_ptr<HomesipServer> top_, d1_, d2_, h1_, h2_;
  std::vector<std::unique_ptr<Phone>> phones_;  // declared last: stopped before the servers
};

TEST_F(PhonesAcrossTheTree, BaresipCallsLinphoneInAnotherFamily) {
  Phone& callee = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port());
  Phone& caller = registered_phone(Program::kBaresip, "U1", "C1.D1.H1", h1_->port());
  call_and_hang_up(caller, callee);
}

TEST_F(PhonesAcrossTheTree, LinphoneCallsBaresipInAnotherFamily) {
  Phone& callee = registered_phone(Program::kBaresip, "U1", "C1.D1.H1", h1_->port());
  Phone& caller = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port());
  call_and_hang_up(caller, callee);
}

TEST_F(PhonesAcrossTheTree, BaresipCallsBaresipInAnotherFamily) {
  Phone& callee = registered_phone(Program::kBaresip, "U3", "C1.D2.H2", h2_->port());
  Phone& caller = registered_phone(Program::kBaresip, "U1", "C1.D1.H1", h1_->port());
  call_and_hang_up(caller, callee);
}

TEST_F(PhonesAcrossTheTree, LinphoneCallsLinphoneInAnotherFamily) {
  Phone& callee = registered_phone(Program::kLinphone, "U4", "C1.D1.H1", h1_->port());
  Phone& caller = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port());
  call_and_hang_up(caller, callee);
}

}  // namespace
