// homesip-ua against a real tree on loopback: province C1 (domain ""),
// community D1@C1, family H1@C1.D1, each a homesipd with location-sqlite,
// tree and registrar. The servers register upward by themselves (the tree
// plugin); the tests wait until the top redirects a user of H1.
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

// homesip-ua is built into the same bin/ as homesipd.
std::string ua_path() {
  return (std::filesystem::path(homesipd_path()).parent_path() / "homesip-ua").string();
}

std::string tier_plugins(const TempDir& dir, const std::string& name, const std::string& domain,
                         const std::string& top) {
  return "  - plugin: location-sqlite\n    path: " + (dir / (name + ".sqlite")).string() + "\n" +
         tree_plugin_yaml(name, domain, top) + "  - plugin: registrar\n    min_expires: 10\n";
}

// The status of a REGISTER for `aor` sent to `port` (0: no answer).
int register_status(uint16_t port, const std::string& aor) {
  static int n = 0;
  const std::string id = "ua-probe-" + std::to_string(++n);
  return status_of(udp_exchange(port,
                                "REGISTER sip:" + aor.substr(aor.find('@') + 1) +
                                    " SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK" + id +
                                    "\nMax-Forwards: 70\nFrom: <sip:" + aor + ">;tag=p\nTo: <sip:" + aor +
                                    ">\nCall-ID: " + id +
                                    "\nCSeq: 1 REGISTER\nContact: <sip:probe@127.0.0.1:9>\n"
                                    "Expires: 0\nContent-Length: 0\n\n",
                                std::chrono::seconds(2)));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class UaTree : public ::testing::Test {
 protected:
  void SetUp() override {
    c1_ = make("C1", "", "");
    d1_ = make("D1", "C1", top());
    h1_ = make("H1", "C1.D1", top());
    for (auto* s : {c1_.get(), d1_.get(), h1_.get()}) s->start();
    // The servers' own registrations, as the paper's STEP 1-2 (D1: 200 at the
    // top) and STEP 3-4 (H1: 302 at the top, then 200 at D1), made by the tree
    // plugin: a user of H1 is redirected by the top and by D1 once both are done.
    ASSERT_TRUE(eventually(
        [&] {
          return register_status(c1_->port(), "x@C1.D1.H1") == 302 &&
                 register_status(d1_->port(), "x@C1.D1.H1") == 302;
        },
        20s))
        << read_file(d1_->log()) << read_file(h1_->log());
  }

  // Ports are chosen when the server is made: the top's address is known before it starts.
  std::unique_ptr<HomesipServer> make(const std::string& name, const std::string& domain,
                                      const std::string& top) {
    return std::make_unique<HomesipServer>(
        dir_, ServerOptions{name, domain, tier_plugins(dir_, name, domain, top), ""});
  }

  static std::string uri(const std::string& user, const HomesipServer& s) {
    return "sip:" + user + "@127.0.0.1:" + std::to_string(s.port());
  }
  static std::string addr(const HomesipServer& s) { return "sip:127.0.0.1:" + std::to_string(s.port()); }
  std::string top() const { return addr(*c1_); }
  std::string family() const { return addr(*h1_); }

  int ua(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), ua_path());
    return run(args, out, 60s);
  }

  // A long-running homesip-ua (answer, register without --once).
  std::unique_ptr<Process> ua_process(std::vector<std::string> args, const std::filesystem::path& log) {
    args.insert(args.begin(), ua_path());
    return std::make_unique<Process>(args, log);
  }

  // Starts `answer` for `aor` and waits until it is registered.
  std::unique_ptr<Process> answerer(const std::string& aor, const std::filesystem::path& log, int calls = 1) {
    auto p = ua_process(
        {"answer", "--aor", aor, "--server", top(), "--calls", std::to_string(calls), "--timeout", "30"},
        log);
    EXPECT_TRUE(eventually([&] { return contains(read_file(log), "waiting for calls"); }, 10s))
        << read_file(log);
    return p;
  }

  TempDir dir_;
  std::unique_ptr<HomesipServer> c1_, d1_, h1_;
};

}  // namespace

TEST_F(UaTree, UserRegistersThroughTheTopWithExactlyTwoRedirects) {
  std::string out;
  ASSERT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", top()}, &out), 0) << out;
  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 4u) << out;
  EXPECT_EQ(lines[0],
            "REGISTER sip:U1@C1.D1.H1 -> " + top() + ": 302 Moved Temporarily -> " + uri("D1", *d1_));
  EXPECT_EQ(lines[1], "REGISTER sip:U1@C1.D1.H1 -> " + uri("D1", *d1_) + ": 302 Moved Temporarily -> " +
                          uri("H1", *h1_));
  EXPECT_EQ(
      lines[2].rfind(
          "REGISTER sip:U1@C1.D1.H1 -> " + uri("H1", *h1_) + ": 200 OK (server saw us at 127.0.0.1:", 0),
      0u)
      << lines[2];
  EXPECT_EQ(lines[3], "registered sip:U1@C1.D1.H1 at " + uri("H1", *h1_) + " after 2 redirect(s)");
  // --once left the binding: the family server now redirects calls to U1.
  EXPECT_EQ(ua({"message", "--aor", "U2@C1.D1.H1", "--to", "U1@C1.D1.H1", "--server", family(), "--text", "x",
                "--max-redirects", "0"},
               &out),
            3)
      << out;
  EXPECT_TRUE(contains(out, "302 Moved Temporarily -> sip:U1@127.0.0.1:")) << out;
}

TEST_F(UaTree, UnregisterFollowsTheSameRedirectsAndRemovesTheBinding) {
  const std::string contact = "sip:u1@127.0.0.1:9";
  std::string out;
  ASSERT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", top(), "--contact", contact}, &out),
            0)
      << out;
  ASSERT_EQ(
      ua({"register", "--unregister", "--aor", "U1@C1.D1.H1", "--server", top(), "--contact", contact}, &out),
      0)
      << out;
  EXPECT_EQ(lines_of(out).size(), 4u) << out;
  EXPECT_TRUE(contains(out, "unregistered sip:U1@C1.D1.H1 at " + uri("H1", *h1_))) << out;
  // No binding left: the family server has nowhere to send U1's calls.
  EXPECT_EQ(
      ua({"message", "--aor", "U2@C1.D1.H1", "--to", "U1@C1.D1.H1", "--server", family(), "--text", "x"},
         &out),
      2)
      << out;
  EXPECT_TRUE(contains(out, "480 Temporarily Unavailable")) << out;
}

TEST_F(UaTree, UnknownFamilyServerGives404AndExit2) {
  std::string out;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H7", "--server", top()}, &out), 2) << out;
  EXPECT_TRUE(contains(out, "-> " + uri("D1", *d1_) + ": 404 Next Server Offline")) << out;
}

// locate: OPTIONS down the tree from the top, as a call goes; the family
// server's 302 names the user's contacts, and what a phone needs is printed.
TEST_F(UaTree, LocateFollowsTheTreeAndPrintsThePhoneSetup) {
  std::string out;
  ASSERT_EQ(
      ua({"register", "--once", "--aor", "U2@C1.D1.H1", "--server", top(), "--contact", "sip:u2@127.0.0.1:9"},
         &out),
      0)
      << out;
  ASSERT_EQ(ua({"locate", "U2@C1.D1.H1", "--top", top()}, &out), 0) << out;
  const auto lines = lines_of(out);
  const std::vector<std::string> expected = {
      "OPTIONS sip:U2@C1.D1.H1 -> " + top() + ": 302 Moved Temporarily -> " + uri("D1", *d1_),
      "OPTIONS sip:U2@C1.D1.H1 -> " + uri("D1", *d1_) + ": 302 Moved Temporarily -> " + uri("H1", *h1_),
      "OPTIONS sip:U2@C1.D1.H1 -> " + uri("H1", *h1_) + ": 302 Moved Temporarily",
      "family server: " + family(),
      "contact: sip:u2@127.0.0.1:9",
      "baresip account: <sip:U2@C1.D1.H1>;outbound=\"" + family() + "\";regint=600",
      "linphone [proxy_0]:",
      "  reg_proxy=<" + family() + ">",
      "  reg_route=<" + family() + ";lr>",
      "  reg_identity=sip:U2@C1.D1.H1",
      "  reg_sendregister=1"};
  ASSERT_EQ(lines.size(), expected.size()) << out;
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(lines[i].rfind(expected[i], 0), 0u)
        << "line " << i << ": " << lines[i] << "\nexpected: " << expected[i];
}

TEST_F(UaTree, LocateOfAUserWithNoPhoneNamesTheFamilyServerAndExits2) {
  std::string out;
  EXPECT_EQ(ua({"locate", "U9@C1.D1.H1", "--top", top()}, &out), 2) << out;
  EXPECT_TRUE(contains(out, "-> " + uri("H1", *h1_) + ": 480 ")) << out;
  EXPECT_TRUE(contains(out, "family server: " + family() + "\n")) << out;
  EXPECT_TRUE(contains(out, "contacts: none")) << out;
}

TEST_F(UaTree, LocateInAFamilyThatIsNotThereIs404AndExit2) {
  std::string out;
  EXPECT_EQ(ua({"locate", "U1@C1.D1.H7", "--top", top()}, &out), 2) << out;
  EXPECT_TRUE(contains(out, "-> " + uri("D1", *d1_) + ": 404 ")) << out;
  EXPECT_FALSE(contains(out, "family server:")) << out;
}

TEST_F(UaTree, TooManyRedirectsExit3) {
  std::string out;
  EXPECT_EQ(
      ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", top(), "--max-redirects", "1"}, &out), 3)
      << out;
  EXPECT_TRUE(contains(out, "too many redirects")) << out;
}

TEST_F(UaTree, UsageErrorsExit1) {
  EXPECT_EQ(ua({"register", "--aor", "U1@C1.D1.H1"}), 1);                  // no --server
  EXPECT_EQ(ua({"call", "--aor", "U1@C1.D1.H1", "--server", top()}), 1);   // no --to
  EXPECT_EQ(ua({"dance", "--aor", "U1@C1.D1.H1", "--server", top()}), 1);  // no such command
  EXPECT_EQ(ua({"register", "--aor", "nobody", "--server", top()}), 1);    // not an AOR
}

// The command line alone (CLI11): nothing here reaches the network.
TEST(UaCommandLine, HelpListsTheCommandsAndTheirOptionsAndExits0) {
  std::string out;
  EXPECT_EQ(run({ua_path(), "--help"}, &out), 0);
  for (const char* command : {"register", "call", "answer", "message", "locate"})
    EXPECT_NE(out.find(command), std::string::npos) << command << ": " << out;
  EXPECT_EQ(run({ua_path(), "register", "--help"}, &out), 0);
  for (const char* option : {"--aor", "--server", "--listen", "--contact", "--expires S=3600",
                             "--max-redirects N=5", "--once", "--unregister"})
    EXPECT_NE(out.find(option), std::string::npos) << option << ": " << out;
}

TEST(UaCommandLine, UsageErrorsExit1NamingTheCulprit) {
  const std::vector<std::string> me = {"--aor", "U1@C1.D1.H1", "--server", "sip:127.0.0.1:5110"};
  auto ua = [&](std::vector<std::string> args, const std::string& expected) {
    args.insert(args.begin(), ua_path());
    std::string out;
    EXPECT_EQ(run(args, &out), 1) << out;
    EXPECT_NE(out.find("homesip-ua: " + expected), std::string::npos) << out;
  };
  auto with_me = [&](const std::string& command, std::vector<std::string> more) {
    std::vector<std::string> args = {command};
    args.insert(args.end(), me.begin(), me.end());
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  ua({}, "A subcommand is required");
  ua(with_me("dance", {}), "unknown command 'dance'");
  ua({"register", "--aor", "U1@C1.D1.H1"}, "--server is required");
  ua({"register", "--aor"}, "--aor: 1 required U@DOMAIN missing");
  ua(with_me("register", {"--bogus"}), "The following argument was not expected: --bogus");
  ua(with_me("call", {}), "--to is required");
  ua(with_me("call", {"--to", "U2@C1.D1.H1", "--once"}),
     "The following argument was not expected: --once");  // register's flag
  ua(with_me("message", {"--to", "U2@C1.D1.H1"}), "--text is required");
  ua({"locate", "U1@C1.D1.H1"}, "--top is required");
  ua({"locate", "nobody", "--top", "sip:127.0.0.1:5110"},
     "'nobody' is not an address of record like U1@C1.D1.H1");
  ua({"locate", "U1@C1.D1.H1", "--top", "127.0.0.1:5110"},
     "--top needs a sip: URI, e.g. sip:127.0.0.1:5060, not '127.0.0.1:5110'");
  ua(with_me("register", {"--listen", "udp127.0.0.1"}),
     "--listen needs udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT, not 'udp127.0.0.1'");
  ua(with_me("register", {"--expires", "soon"}), "--expires needs a number >= 0, not 'soon'");
  ua(with_me("answer", {"--calls", "1.5"}), "--calls needs a whole number, not '1.5'");
  ua({"register", "--aor", "nobody", "--server", "sip:127.0.0.1:5110"},
     "'nobody' is not an address of record like U1@C1.D1.H1");
  ua({"register", "--aor", "U1@C1.D1.H1", "--server", "127.0.0.1:5110"},
     "--server needs a sip: URI, e.g. sip:127.0.0.1:5060, not '127.0.0.1:5110'");
}

TEST_F(UaTree, RegistrationIsRefreshedAtTheFamilyServerAndRemovedOnSigterm) {
  const auto log = dir_ / "refresh.log";
  auto p = ua_process({"register", "--aor", "U4@C1.D1.H1", "--server", top(), "--expires", "10"}, log);
  // nua refreshes well before the 10 s run out, straight with the family server.
  ASSERT_TRUE(eventually([&] { return contains(read_file(log), "refreshed"); }, 15s)) << read_file(log);
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(10s), 0) << read_file(log);
  const std::string out = read_file(log);
  EXPECT_TRUE(contains(out, "refreshed sip:U4@C1.D1.H1 at " + uri("H1", *h1_))) << out;
  EXPECT_TRUE(contains(out, "unregistered sip:U4@C1.D1.H1 at " + uri("H1", *h1_))) << out;
  // Two redirects once, then every REGISTER went to the family server only.
  size_t redirects = 0;
  for (const auto& line : lines_of(out)) redirects += contains(line, ": 302 ");
  EXPECT_EQ(redirects, 2u) << out;
}

TEST_F(UaTree, CallThroughTheTreeToAnAnsweringUa) {
  const auto log = dir_ / "answer.log";
  auto callee = answerer("U2@C1.D1.H1", log);
  std::string out;
  // From the top: C1 -> D1 -> H1 -> U2's own address.
  EXPECT_EQ(
      ua({"call", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", top(), "--duration", "0.5"},
         &out),
      0)
      << out;
  const auto lines = lines_of(out);
  ASSERT_GE(lines.size(), 6u) << out;
  EXPECT_TRUE(contains(lines[0], "INVITE sip:U2@C1.D1.H1 -> " + top() + ": 302")) << out;
  EXPECT_TRUE(contains(lines[1], ": 302 Moved Temporarily -> " + uri("H1", *h1_))) << out;
  EXPECT_TRUE(contains(lines[2], ": 302 Moved Temporarily -> sip:U2@127.0.0.1:")) << out;
  EXPECT_TRUE(contains(out, ": 200 OK")) << out;
  EXPECT_TRUE(contains(lines.back(), "BYE sip:U2@C1.D1.H1 -> sip:U2@127.0.0.1:")) << out;
  EXPECT_EQ(callee->wait(15s), 0) << read_file(log);
  const std::string answered = read_file(log);
  for (const char* step : {"INVITE from sip:U1@C1.D1.H1", "ACK received", "BYE received", "call 1 completed",
                           "unregistered sip:U2@C1.D1.H1"})
    EXPECT_TRUE(contains(answered, step)) << step << "\n" << answered;
}

TEST_F(UaTree, MessageToAnAnsweringUaShowsTheReplyBody) {
  const auto log = dir_ / "answer.log";
  auto callee = answerer("U2@C1.D1.H1", log);
  std::string out;
  EXPECT_EQ(
      ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", family(), "--text", "on"},
         &out),
      0)
      << out;
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + family() + ": 302")) << out;
  EXPECT_TRUE(contains(out, "reply: received: on")) << out;
  EXPECT_TRUE(contains(read_file(log), "MESSAGE from sip:U1@C1.D1.H1: on")) << read_file(log);
  callee->stop();
}

TEST_F(UaTree, CallToASippCallee) {
  const uint16_t port = free_port();
  const auto log = dir_ / "sipp.log";
  Process sipp({"sipp", "-sf", scenario_dir() + "/ua_uas.xml", "-i", "127.0.0.1", "-p", std::to_string(port),
                "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"},
               log);
  std::string out;
  ASSERT_EQ(ua({"register", "--once", "--aor", "U2@C1.D1.H1", "--server", top(), "--contact",
                "sip:u2@127.0.0.1:" + std::to_string(port)},
               &out),
            0)
      << out;
  EXPECT_EQ(
      ua({"call", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", top(), "--duration", "0.2"},
         &out),
      0)
      << out;
  EXPECT_TRUE(contains(out, "-> sip:u2@127.0.0.1:" + std::to_string(port) + ": 200 OK")) << out;
  EXPECT_TRUE(contains(out, "BYE sip:U2@C1.D1.H1")) << out;
  EXPECT_EQ(sipp.wait(10s), 0) << read_file(log);  // INVITE, ACK, BYE all as the scenario expects
}

TEST_F(UaTree, CallToBaresipRegisteredStraightWithItsFamily) {
  if (run({"sh", "-c", "command -v baresip"}) != 0) GTEST_SKIP() << "baresip not installed";
  // baresip does not follow 302 on REGISTER, so it registers with H1 directly.
  const uint16_t port = free_port();
  const auto conf = dir_ / "baresip";
  std::filesystem::create_directories(conf);
  write_file(conf / "config", "sip_listen 127.0.0.1:" + std::to_string(port) +
                                  "\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule menu.so\n"
                                  "module account.so\naudio_player nil,nil\naudio_source nil,nil\n");
  write_file(conf / "accounts",
             "<sip:U3@C1.D1.H1>;regint=60;answermode=auto;outbound=\"" + family() + "\"\n");
  const auto log = dir_ / "baresip.log";
  Process baresip({"baresip", "-f", conf.string(), "-t", "30"}, log);
  ASSERT_TRUE(eventually([&] { return contains(read_file(log), "200 OK"); }, 10s)) << read_file(log);
  std::string out;
  EXPECT_EQ(
      ua({"call", "--aor", "U1@C1.D1.H1", "--to", "U3@C1.D1.H1", "--server", top(), "--duration", "0.5"},
         &out),
      0)
      << out;
  EXPECT_TRUE(contains(out, "BYE sip:U3@C1.D1.H1")) << out;
  EXPECT_TRUE(eventually([&] { return contains(read_file(log), "Call established"); }, 2s)) << read_file(log);
}

TEST_F(UaTree, RedirectLoopExit3) {
  // A binding that points back at the family server itself: H1 redirects
  // U6's call to H1, which redirects it to H1 again.
  std::string out;
  ASSERT_EQ(
      ua({"register", "--once", "--aor", "U6@C1.D1.H1", "--server", top(), "--contact", uri("H1", *h1_)},
         &out),
      0)
      << out;
  EXPECT_EQ(ua({"call", "--aor", "U1@C1.D1.H1", "--to", "U6@C1.D1.H1", "--server", top()}, &out), 3) << out;
  EXPECT_TRUE(contains(out, "redirect loop: " + uri("H1", *h1_) + " was already tried")) << out;
}
