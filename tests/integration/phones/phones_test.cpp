// Ordinary phones across the management network (issue 12): baresip and
// linphonec, set up as docs/phones.md says (AOR in the tree, the family server
// as registrar and outbound proxy), call users of another family. The family
// server resolves the callee through the tree and forwards the INVITE
// statelessly; the 200, ACK and BYE go phone to phone. Each call must be
// established on both sides, last, and end with a BYE both sides report.
//
// The tree: C1 (top), D1@C1, D2@C1, H1@C1.D1, H2@C1.D2, each a homesipd on a
// free UDP port of 127.0.0.1 with location-sqlite, tree and registrar.
//
// With passwords (issue 13, docs/security.md): the family servers also load
// auth-digest, their users are added with `homesipctl user add`, the phones
// register with a password and their calls are challenged (407) by their
// family server as outbound proxy; a wrong password binds nothing.
//
// Over TLS (issue 13): H1 also listens on tls: with a certificate of a
// private CA (homesipctl pki); baresip registers there with its password and
// calls; what each phone makes of a CA that did not sign H1's certificate.
// That H1 runs two loops (server.loops): baresip's connection is served by
// whichever loop the kernel gave it, and what reaches H1 on the other loop
// (H2's forwarded INVITE over UDP) still leaves on that connection.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <regex>
#include <thread>

#include "phone.hpp"
#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

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
    // A family server (two labels above it) with passwords: auth-digest, its
    // realm the family's domain (from the tree), and an admin socket for homesipctl.
    const bool family = std::count(domain.begin(), domain.end(), '.') == 1;
    const bool auth = with_passwords_ && family;
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / (name + domain + ".sqlite")).string() + "\n" +
        tree_plugin_yaml(name, domain, top) +
        (auth ? "  - plugin: auth-digest\n    secret_file: " + (dir_ / (name + ".secret")).string() + "\n" +
                    // baresip answers each fresh challenge to a wrong password again, more than the
                    // default ban_after_failures (10) times before it gives up: here the refusal is
                    // tested, the ban in auth_digest_e2e_test.
                    "    ban_after_failures: 1000\n" +
                    // baresip 1.0.0 (libre) fails a REGISTER with "Function not implemented" when any
                    // challenge is SHA-256, even beside an MD5 one: its family (H1) offers MD5 only.
                    (name == "H1" ? "    algorithms: [MD5]\n" : "")
              : std::string()) +
        "  - plugin: registrar\n    min_expires: 10\n";
    const bool tls = with_tls_ && name == "H1";
    auto server = std::make_unique<HomesipServer>(
        dir_, ServerOptions{
                  name, domain, plugins,
                  (auth ? "  admin_socket: " + socket_of(name) + "\n" : std::string()) +
                      (tls ? "  tls_certificates: " + h1_certificates() + "\n  loops: 2\n" : std::string())});
    if (tls) listen_on_tls_too(*server);
    return server;
  }

  // H1 with a certificate of a private CA (`homesipctl pki`), as docs/phones.md
  // says, for its address and for "localhost" (linphonec checks a name); a
  // second CA that signed nothing of this tree.
  std::string h1_certificates() {
    const std::string ca = (dir_ / "ca").string(), other = (dir_ / "other-ca").string();
    const std::string certificates = (dir_ / "h1-certificates").string();
    for (const std::vector<std::string>& arguments :
         {std::vector<std::string>{"init", ca},
          {"issue", ca, "H1@C1.D1", "--ip", "127.0.0.1", "--dns", "localhost", "--out", certificates},
          {"init", other}}) {
      std::vector<std::string> argv{HOMESIP_TEST_HOMESIPCTL, "pki"};
      argv.insert(argv.end(), arguments.begin(), arguments.end());
      std::string out;
      EXPECT_EQ(run(argv, &out, 10s), 0) << out;
    }
    return certificates;
  }
  // The server's udp: and tcp: listeners, and a tls: one on a port of its own.
  void listen_on_tls_too(HomesipServer& server) {
    h1_tls_port_ = free_port();
    const std::string port = std::to_string(server.port());
    server.set_extra_arguments({"--set", "server.listen=[udp:127.0.0.1:" + port + ", tcp:127.0.0.1:" + port +
                                             ", tls:127.0.0.1:" + std::to_string(h1_tls_port_) + "]"});
  }
  std::string socket_of(const std::string& name) const { return (dir_ / (name + ".sock")).string(); }

  // Both families registered upward: the top redirects down to their
  // community, and each community down to its family.
  bool tree_is_up() {
    return probe_register(top_->port(), "C1.D1.H1") == 302 &&
           probe_register(top_->port(), "C1.D2.H2") == 302 &&
           probe_register(d1_->port(), "C1.D1.H1") == 302 && probe_register(d2_->port(), "C1.D2.H2") == 302;
  }

  // A phone of `program` for user@domain at the family server on `family_port`, started and registered.
  Phone& registered_phone(Program program, const std::string& user, const std::string& domain,
                          uint16_t family_port, const std::string& password = "") {
    Phone& started = started_phone(program, user, domain, family_port, password);
    EXPECT_TRUE(eventually([&] { return started.registered(); }, 10s))
        << started.program() << " " << started.aor() << " did not register at its family server:\n"
        << started.output();
    return started;
  }
  Phone& started_phone(Program program, const std::string& user, const std::string& domain,
                       uint16_t family_port, const std::string& password) {
    return started_phone(program, PhoneSetup{.user = user,
                                             .domain = domain,
                                             .family_port = family_port,
                                             .directory = dir_ / (user + "." + domain),
                                             .password = password,
                                             .family_tls_port = 0,  // UDP
                                             .ca_file = {}});
  }
  Phone& started_phone(Program program, PhoneSetup setup) {
    std::unique_ptr<Phone> phone;
    if (program == Program::kBaresip)
      phone = std::make_unique<Baresip>(setup);
    else
      phone = std::make_unique<Linphone>(setup);
    phone->start();
    phones_.push_back(std::move(phone));
    return *phones_.back();
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

  bool with_passwords_ = false;
  bool with_tls_ = false;  // H1 also listens on tls: (h1_tls_port_)
  uint16_t h1_tls_port_ = 0;
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

// ---- with passwords: auth-digest at the family servers ----

class PhonesWithPasswords : public PhonesAcrossTheTree {
 protected:
  PhonesWithPasswords() { with_passwords_ = true; }

  void SetUp() override {
    PhonesAcrossTheTree::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    add_user("H1", "U1@C1.D1.H1", "u1-Pass.word");
    add_user("H2", "U2@C1.D2.H2", "u2-Pass.word");
  }

  // `homesipctl user add` at a family server, the password from a file.
  void add_user(const std::string& server, const std::string& aor, const std::string& password) {
    const auto file = dir_ / (aor + ".password");
    write_file(file, password + "\n");
    std::string out;
    ASSERT_EQ(run({HOMESIP_TEST_HOMESIPCTL, "--socket", socket_of(server), "user", "add", aor, "--role",
                   "member", "--password-file", file.string()},
                  &out, 10s),
              0)
        << out;
  }
  std::string ctl(const std::string& server, const std::vector<std::string>& arguments) {
    std::vector<std::string> argv{HOMESIP_TEST_HOMESIPCTL, "--socket", socket_of(server), "--json"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    std::string out;
    EXPECT_EQ(run(argv, &out, 10s), 0) << out;
    return out;
  }
  // The bindings the family server holds for `aor`, as JSON text.
  std::string bindings(const std::string& server, const std::string& aor) {
    return ctl(server, {"bindings", aor});
  }
  uint64_t metric(const std::string& server, const std::string& name) {
    const std::string stats = ctl(server, {"stats"});
    const auto at = stats.find("\"homesip_auth_digest_" + name + "\": ");
    if (at == std::string::npos) {
      ADD_FAILURE() << name << " not in " << stats;
      return 0;
    }
    return std::stoull(stats.substr(stats.find(": ", at) + 2));
  }

  // The caller's INVITE was challenged by its family server and answered:
  // the 407 is in the phone's trace, the server counted it.
  void expect_call_challenged(Phone& caller, const std::string& server) {
    EXPECT_NE(caller.sip_trace().find("SIP/2.0 407 "), std::string::npos)
        << caller.program() << " saw no 407:\n"
        << caller.sip_trace().substr(0, 20000);
    // linphonec writes "Proxy-Authorization:  Digest" (two spaces).
    static const std::regex answered(R"(Proxy-Authorization:\s+Digest )");
    EXPECT_TRUE(std::regex_search(caller.sip_trace(), answered))
        << caller.program() << " sent no Proxy-Authorization";
    EXPECT_GE(metric(server, "auth_ok_total"), 2u);  // its REGISTER and its INVITE
  }
};

TEST_F(PhonesWithPasswords, BaresipRegistersWithAPasswordAndCallsLinphone) {
  Phone& callee = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port(), "u2-Pass.word");
  Phone& caller = registered_phone(Program::kBaresip, "U1", "C1.D1.H1", h1_->port(), "u1-Pass.word");
  // Registered only after answering the family server's 401.
  EXPECT_NE(caller.sip_trace().find("SIP/2.0 401 "), std::string::npos) << caller.output();
  EXPECT_NE(callee.sip_trace().find("SIP/2.0 401 "), std::string::npos);
  EXPECT_NE(bindings("H1", "U1@C1.D1.H1").find("\"contact\""), std::string::npos);
  call_and_hang_up(caller, callee);
  expect_call_challenged(caller, "H1");
}

TEST_F(PhonesWithPasswords, LinphoneRegistersWithAPasswordAndCallsBaresip) {
  Phone& callee = registered_phone(Program::kBaresip, "U1", "C1.D1.H1", h1_->port(), "u1-Pass.word");
  Phone& caller = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port(), "u2-Pass.word");
  EXPECT_NE(bindings("H2", "U2@C1.D2.H2").find("\"contact\""), std::string::npos);
  call_and_hang_up(caller, callee);
  expect_call_challenged(caller, "H2");
}

TEST_F(PhonesWithPasswords, AWrongPasswordIsRefusedAndBindsNothing) {
  Phone& baresip = started_phone(Program::kBaresip, "U1", "C1.D1.H1", h1_->port(), "not-the-password");
  Phone& linphone = started_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port(), "not-the-password");
  EXPECT_TRUE(eventually([&] { return baresip.registration_refused(); }, 10s)) << baresip.output();
  EXPECT_TRUE(eventually([&] { return linphone.registration_refused(); }, 10s)) << linphone.sip_trace();
  EXPECT_FALSE(baresip.registered()) << baresip.output();
  EXPECT_FALSE(linphone.registered());
  EXPECT_EQ(bindings("H1", "U1@C1.D1.H1"), "{\n  \"U1@C1.D1.H1\": []\n}\n");
  EXPECT_EQ(bindings("H2", "U2@C1.D2.H2"), "{\n  \"U2@C1.D2.H2\": []\n}\n");
  EXPECT_GE(metric("H1", "auth_failed_total"), 1u);
  // One line per refusal at the family server, with the AOR and the source (for fail2ban).
  const std::string log = read_file(h1_->log());
  EXPECT_NE(log.find("refused method=REGISTER aor=U1@C1.D1.H1 source=udp:127.0.0.1:"), std::string::npos)
      << log;
}

// ---- over TLS: baresip to its family server (H1's tls: listener) ----

class PhonesOverTls : public PhonesWithPasswords {
 protected:
  PhonesOverTls() { with_tls_ = true; }

  // U1 of H1 over TLS with its password, trusting `ca_file`.
  Phone& u1_over_tls(Program program, const std::filesystem::path& ca_file) {
    return started_phone(program, PhoneSetup{.user = "U1",
                                             .domain = "C1.D1.H1",
                                             .family_port = h1_->port(),
                                             .directory = dir_ / "U1.C1.D1.H1",
                                             .password = "u1-Pass.word",
                                             .family_tls_port = h1_tls_port_,
                                             .ca_file = ca_file});
  }
  // H1 sent the INVITE on baresip's own TLS connection (baresip -s prints
  // each message received under "TLS <from> -> <to>"), and says so.
  void expect_call_on_flow(Phone& callee) {
    const std::regex invite_on_flow("TLS 127\\.0\\.0\\.1:" + std::to_string(h1_tls_port_) +
                                    " -> 127\\.0\\.0\\.1:[0-9]+\r?\nINVITE sip:");
    EXPECT_TRUE(std::regex_search(callee.sip_trace(), invite_on_flow)) << callee.sip_trace().substr(0, 20000);
    EXPECT_NE(read_file(h1_->log()).find("phone INVITE U1@C1.D1.H1 forwarded on flow tls:127.0.0.1:"),
              std::string::npos);
  }
  // The binding H1 holds for U1 came in over TLS: its source is H1's view of
  // the phone's TLS connection.
  bool bound_over_tls() {
    static const std::regex tls_source(R"("source": "tls:127\.0\.0\.1:[0-9]+")");
    return std::regex_search(bindings("H1", "U1@C1.D1.H1"), tls_source);
  }
};

TEST_F(PhonesOverTls, BaresipRegistersOverTlsWithAPasswordAndCallsLinphone) {
  Phone& callee = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port(), "u2-Pass.word");
  Phone& caller = u1_over_tls(Program::kBaresip, dir_ / "ca" / "cafile.pem");
  ASSERT_TRUE(eventually([&] { return caller.registered(); }, 10s))
      << caller.output() << read_file(h1_->log());
  EXPECT_NE(caller.sip_trace().find("SIP/2.0 401 "), std::string::npos) << caller.output();
  EXPECT_TRUE(bound_over_tls()) << bindings("H1", "U1@C1.D1.H1");

  call_and_hang_up(caller, callee);
  expect_call_challenged(caller, "H1");
  // The INVITE went to H1's tls: listener (baresip -s prints each message
  // under "TLS <from> -> <to>").
  const std::regex invite_over_tls("TLS 127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:" +
                                   std::to_string(h1_tls_port_) + "\r?\nINVITE sip:U2@C1\\.D2\\.H2 ");
  EXPECT_TRUE(std::regex_search(caller.sip_trace(), invite_over_tls)) << caller.sip_trace();
}

// A phone of another family calls baresip registered over TLS: H2 learns
// from H1 that U1 is reached through H1 (its 302 for U1 carries a Route to
// H1), H1 sends the INVITE on the TLS connection baresip registered over
// (its flow, RFC 5626) and Record-Routes the dialog twice (RFC 5658), so
// that the ACK and the BYE find the connection too. Here the caller hangs up.
TEST_F(PhonesOverTls, LinphoneCallsBaresipOnItsTlsConnection) {
  Phone& callee = u1_over_tls(Program::kBaresip, dir_ / "ca" / "cafile.pem");
  Phone& caller = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port(), "u2-Pass.word");
  ASSERT_TRUE(eventually([&] { return callee.registered(); }, 10s)) << callee.output();
  ASSERT_TRUE(bound_over_tls()) << bindings("H1", "U1@C1.D1.H1");
  call_and_hang_up(caller, callee);
  expect_call_on_flow(callee);
}

// The same call, hung up by baresip: its BYE leaves on its TLS connection
// and H1 sends it on to the caller.
TEST_F(PhonesOverTls, BaresipOnTlsHangsUpACallFromLinphone) {
  Phone& callee = u1_over_tls(Program::kBaresip, dir_ / "ca" / "cafile.pem");
  Phone& caller = registered_phone(Program::kLinphone, "U2", "C1.D2.H2", h2_->port(), "u2-Pass.word");
  ASSERT_TRUE(eventually([&] { return callee.registered(); }, 10s)) << callee.output();
  caller.dial("sip:" + callee.aor());
  ASSERT_TRUE(eventually([&] { return caller.established() && callee.established(); }, 10s))
      << caller.output() << "\n"
      << callee.output() << "\nH1:\n"
      << read_file(h1_->log()).substr(0, 8000);
  callee.hang_up();
  // Linphone ends the call on the BYE; baresip 1.0.0 prints no end line for
  // a call it hangs up as callee, so its trace shows the BYE's 200 instead.
  static const std::regex bye_answered(R"(SIP/2.0 200 Ok\r?\n(?:[^\r\n]+\r?\n)*CSeq: [0-9]+ BYE)");
  EXPECT_TRUE(
      eventually([&] { return caller.ended() && std::regex_search(callee.sip_trace(), bye_answered); }, 5s))
      << caller.output() << "\n"
      << callee.output();
  EXPECT_FALSE(caller.failed()) << caller.output();
  EXPECT_FALSE(callee.failed()) << callee.output();
  expect_call_on_flow(callee);
  // baresip's BYE went out on TLS to H1's tls: listener.
  const std::regex bye_over_tls(
      "TLS 127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:" + std::to_string(h1_tls_port_) + "\r?\nBYE ");
  EXPECT_TRUE(std::regex_search(callee.sip_trace(), bye_over_tls)) << callee.sip_trace();
}

// Why H1 cannot reach baresip 1.0.0 on its TLS connection from the Contact
// alone: the Contact names baresip's own TLS listener (sip_listen's port + 1,
// where it has no certificate), not the port its connection comes from; only
// the binding's source names the connection (docs/phones.md, "Over TLS").
TEST_F(PhonesOverTls, Baresip1ContactNamesItsListenerNotItsConnection) {
  Phone& phone = u1_over_tls(Program::kBaresip, dir_ / "ca" / "cafile.pem");
  ASSERT_TRUE(eventually([&] { return phone.registered(); }, 10s)) << phone.output();
  const std::string bound = bindings("H1", "U1@C1.D1.H1");
  static const std::regex contact_port(
      R"re("contact": "<?sip:U1[^"@]*@127\.0\.0\.1:([0-9]+);transport=tls)re");
  static const std::regex source_port(R"re("source": "tls:127\.0\.0\.1:([0-9]+)")re");
  std::smatch contact, source;
  ASSERT_TRUE(std::regex_search(bound, contact, contact_port)) << bound;
  ASSERT_TRUE(std::regex_search(bound, source, source_port)) << bound;
  EXPECT_NE(contact[1].str(), source[1].str()) << bound;
}

// baresip 1.0.0 (libre 1.1.0) loads sip_cafile but never checks the server's
// certificate against it: it registers over TLS with a CA that did not sign
// H1's certificate. This pins the limit docs/phones.md states; when a newer
// baresip refuses here, the docs and this test change together.
TEST_F(PhonesOverTls, Baresip1RegistersEvenWhenItsCaDidNotSignTheServersCertificate) {
  Phone& phone = u1_over_tls(Program::kBaresip, dir_ / "other-ca" / "cafile.pem");
  EXPECT_TRUE(eventually([&] { return phone.registered(); }, 10s)) << phone.output();
  EXPECT_TRUE(bound_over_tls()) << bindings("H1", "U1@C1.D1.H1");
}

// linphonec checks the certificate: the chain up to its root_ca and the
// name it reached the server by. With another CA it marks H1's CA
// not-trusted and fails the handshake. (With the right CA it registers, but
// 3 to over 30 s late: belle-sip leaves H1's last handshake flight unread in
// its socket for that long, seen with ss; so that is not tested here.)
TEST_F(PhonesOverTls, LinphoneWithAnotherCaRefusesTheServerAndBindsNothing) {
  Phone& phone = u1_over_tls(Program::kLinphone, dir_ / "other-ca" / "cafile.pem");
  ASSERT_TRUE(eventually([&] { return phone.registration_refused(); }, 10s))
      << phone.sip_trace().substr(0, 20000);
  EXPECT_NE(phone.sip_trace().find("flags=[not-trusted ]"), std::string::npos);
  EXPECT_NE(phone.sip_trace().find("SSL handshake failed"), std::string::npos);
  EXPECT_FALSE(phone.registered());
  EXPECT_EQ(bindings("H1", "U1@C1.D1.H1"), "{\n  \"U1@C1.D1.H1\": []\n}\n");
}

}  // namespace
