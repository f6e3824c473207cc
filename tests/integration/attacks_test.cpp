// The attacks of issue 13, automated against a real tree on loopback: the
// province C1, the community D1@C1 and the family H1@C1.D1, each with
// location-sqlite, the tree, auth-digest and the policy; the family also runs
// the example lamp (sdk/examples/virtual-lamp). Users and child servers are
// created with `homesipctl user add --password-file`, and each child server
// registers upward with its tree block's `password_file`.
//
// Each attack is one unauthenticated UDP datagram from 127.0.0.66; the
// phones send from 127.0.0.3, and the servers from 127.0.0.1. Each test asserts the exact
// status and that the store did not change (`homesipctl bindings`, the lamp's
// `state` command, the parent's `tree`). Then the legitimate side: U1 with its
// password registers and switches the lamp, a guest cannot, and a member
// cannot look up another user's bindings.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "homesip/digest/digest.hpp"
#include "secured_tree.hpp"
#include "test_support.hpp"

using namespace homesip::test;
namespace digest = homesip::digest;
using nlohmann::json;

namespace {

constexpr const char* kFamily = "C1.D1.H1";
const std::string kLamp = "lamp@C1.D1.H1";

struct Passwords {
  static constexpr const char* kU1 = "u1 owner";
  static constexpr const char* kU3 = "u3 member";
  static constexpr const char* kU4 = "u4 guest";
};

// The value of the first `name` header line containing `needle`, "" when none.
std::string header_with(const std::string& message, const std::string& name, const std::string& needle = "") {
  const std::string prefix = "\r\n" + name + ": ";
  for (size_t pos = message.find(prefix); pos != std::string::npos; pos = message.find(prefix, pos + 1)) {
    const size_t start = pos + prefix.size();
    const std::string value = message.substr(start, message.find("\r\n", start) - start);
    if (value.find(needle) != std::string::npos) return value;
  }
  return "";
}

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

// Sends `message` over UDP from `ip` (an ephemeral port) to 127.0.0.1:port and
// returns the first final response, "" after `timeout`. "$IP$" and "$PORT$"
// become the local address; lines may end in \n. Phones and attackers send
// from addresses of their own, as on the internet: the servers' own requests
// leave from 127.0.0.1.
std::string exchange_from(const std::string& ip, uint16_t port, const std::string& message,
                          std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &local.sin_addr);
  socklen_t length = sizeof local;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return "";
  }
  std::string text;
  for (const char c : message) {
    if (c == '\n') text += '\r';
    text += c;
  }
  for (size_t pos; (pos = text.find("$IP$")) != std::string::npos;) text.replace(pos, 4, ip);
  for (size_t pos; (pos = text.find("$PORT$")) != std::string::npos;)
    text.replace(pos, 6, std::to_string(ntohs(local.sin_port)));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < 10 && status_of(response) < 200; ++i) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd readable{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) != 1) break;
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.assign(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return status_of(response) >= 200 ? response : std::string();
}

constexpr const char* kPhone = "127.0.0.3";      // the family's phones
constexpr const char* kAttacker = "127.0.0.66";  // anyone on the internet

// One request as exchange_from sends it.
struct Request {
  std::string method = "REGISTER";
  std::string uri;
  std::string from;  // AOR
  std::string to;    // AOR
  std::string call_id;
  int cseq = 1;
  std::string headers;  // extra lines, each ending in \n
  std::string body;
  std::string source = kPhone;

  std::string text() const {
    std::string t = method + " " + uri + " SIP/2.0\nVia: SIP/2.0/UDP $IP$:$PORT$;rport;branch=z9hG4bK-" +
                    call_id + "-" + std::to_string(cseq) + "\nMax-Forwards: 70\nFrom: <sip:" + from +
                    ">;tag=" + call_id + "\nTo: <sip:" + to + ">\nCall-ID: " + call_id +
                    "@attacks\nCSeq: " + std::to_string(cseq) + " " + method + "\n" + headers;
    if (!body.empty()) t += "Content-Type: text/plain\n";
    return t + "Content-Length: " + std::to_string(body.size()) + "\n\n" + body;
  }
};

class AttacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(tree_.start(
        "  - plugin: virtual-lamp\n    device: lamp\n",
        {"--set", "server.plugin_dirs=[" + plugin_dir() + ", " + HOMESIP_TEST_EXAMPLE_PLUGIN_DIR + "]"}));
    ASSERT_EQ(tree_.add_user("H1", "U1@C1.D1.H1", "owner", Passwords::kU1), 0);
    ASSERT_EQ(tree_.add_user("H1", "U3@C1.D1.H1", "member", Passwords::kU3), 0);
    ASSERT_EQ(tree_.add_user("H1", "U4@C1.D1.H1", "guest", Passwords::kU4), 0);
  }

  int ctl(const std::string& server, const std::vector<std::string>& arguments, std::string* out = nullptr) {
    return tree_.ctl(server, arguments, out);
  }
  json ctl_json(const std::string& server, const std::vector<std::string>& arguments) {
    std::vector<std::string> argv{"--json"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    std::string out;
    if (ctl(server, argv, &out) != 0) return nullptr;
    return json::parse(out, nullptr, false);
  }

  // What a store holds for `aor`: contact and q of each binding (not the
  // seconds left, which tick).
  std::string bindings(const std::string& server, const std::string& aor) {
    const json all = ctl_json(server, {"bindings", aor});
    std::string out;
    if (all.is_object())
      for (const auto& [key, list] : all.items())
        for (const auto& b : list) out += key + " " + b.value("contact", "") + " q=" + b["q"].dump() + "\n";
    return out;
  }
  std::string lamp_state() {
    const json state = ctl_json("H1", {"virtual-lamp.state"});
    return state.is_object() ? state.value("state", "") : "";
  }
  uint64_t counter(const std::string& server, const std::string& name) {
    std::string out;
    ctl(server, {"stats"}, &out);
    const size_t at = out.find(name);
    if (at == std::string::npos) return 0;
    const size_t digits = out.find_first_of("0123456789", at + name.size());
    return digits == std::string::npos ? 0 : std::stoull(out.substr(digits));
  }

  // Sends `request`; when challenged (401/407), answers once with `user`'s
  // `password` for the SHA-256 challenge. The final response.
  std::string send(uint16_t port, Request request, const std::string& user = "",
                   const std::string& password = "") {
    const std::string first = exchange_from(request.source, port, request.text());
    const int status = status_of(first);
    if (user.empty() || (status != 401 && status != 407)) return first;
    const bool proxy = status == 407;
    const auto challenge =
        digest::parse(header_with(first, proxy ? "Proxy-Authenticate" : "WWW-Authenticate", "SHA-256"));
    if (!challenge) return first;
    const auto credentials =
        digest::authorization(*challenge, user, password, request.method, request.uri, "attacks-cnonce", 1);
    if (!credentials) return first;
    request.cseq += 1;
    request.headers += std::string(proxy ? "Proxy-Authorization: " : "Authorization: ") + *credentials + "\n";
    return exchange_from(request.source, port, request.text());
  }

  static Request from_attacker(Request request) {
    request.source = kAttacker;
    return request;
  }
  static Request registration(const std::string& aor, const std::string& call_id,
                              const std::string& contact_lines) {
    const std::string domain = aor.substr(aor.find('@') + 1);
    return Request{"REGISTER", "sip:" + domain, aor, aor, call_id, 1, contact_lines, ""};
  }
  static Request message(const std::string& from, const std::string& to, const std::string& call_id,
                         const std::string& body) {
    return Request{"MESSAGE", "sip:" + to, from, to, call_id, 1, "", body};
  }

  TempDir dir_;
  SecuredTree tree_{dir_, HOMESIP_TEST_HOMESIPCTL};
};

}  // namespace

// Attacks 1 and 2: take U1's calls with the attacker's contact, remove U1's bindings.
TEST_F(AttacksTest, NoOneButU1RegistersOrRemovesU1sBindings) {
  const std::string legit =
      send(tree_.family->port(),
           registration("U1@C1.D1.H1", "u1-phone", "Contact: <sip:u1@127.0.0.1:5999>\nExpires: 600\n"), "U1",
           Passwords::kU1);
  ASSERT_EQ(status_of(legit), 200) << legit << tree_.logs();
  const std::string before = bindings("H1", "U1@C1.D1.H1");
  ASSERT_NE(before.find("sip:u1@127.0.0.1:5999"), std::string::npos) << before;

  const std::string steal =
      send(tree_.family->port(),
           from_attacker(registration("U1@C1.D1.H1", "steal", "Contact: <sip:attacker@127.0.0.1:6666>\n")));
  EXPECT_EQ(status_of(steal), 401) << steal;
  EXPECT_EQ(bindings("H1", "U1@C1.D1.H1"), before);

  const std::string wipe = send(
      tree_.family->port(), from_attacker(registration("U1@C1.D1.H1", "wipe", "Contact: *\nExpires: 0\n")));
  EXPECT_EQ(status_of(wipe), 401) << wipe;
  EXPECT_EQ(bindings("H1", "U1@C1.D1.H1"), before);
}

// Attacks 3 and 4: take over community D1 at the province with q=1, or take it offline.
TEST_F(AttacksTest, NoOneButD1RegistersOrUnregistersTheCommunity) {
  const std::string before = bindings("C1", "D1@C1");
  ASSERT_NE(before.find("D1@C1 "), std::string::npos) << before;

  const std::string takeover =
      send(tree_.province->port(),
           from_attacker(registration("D1@C1", "takeover",
                                      "Contact: <sip:attacker@127.0.0.1:6666>;q=1\nExpires: 600\n")));
  EXPECT_EQ(status_of(takeover), 401) << takeover;
  EXPECT_NE(header_with(takeover, "WWW-Authenticate", "realm=\"C1\""), "") << takeover;
  EXPECT_EQ(bindings("C1", "D1@C1"), before);

  const std::string offline = send(
      tree_.province->port(), from_attacker(registration("D1@C1", "offline", "Contact: *\nExpires: 0\n")));
  EXPECT_EQ(status_of(offline), 401) << offline;
  EXPECT_EQ(bindings("C1", "D1@C1"), before);
  // Still online a keepalive round later, and still reached: the province redirects D1's families to it.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(tree_.child_online("C1", "D1@C1"));
  const std::string redirected =
      exchange_from(kAttacker, tree_.province->port(),
                    registration("x@C1.D1.H1", "probe", "Contact: <sip:x@127.0.0.1:7>\n").text());
  EXPECT_EQ(status_of(redirected), 302) << redirected;
  EXPECT_NE(redirected.find(std::to_string(tree_.community->port())), std::string::npos) << redirected;
}

// Attack 5: switch the lamp from a family that does not exist, or as U1 without U1's password.
TEST_F(AttacksTest, NoStrangerSwitchesTheLamp) {
  ASSERT_EQ(lamp_state(), "off");
  const std::string stranger =
      send(tree_.family->port(), from_attacker(message("U9@C9.D9.H9", kLamp, "stranger", "on")));
  EXPECT_EQ(status_line(stranger), "SIP/2.0 403 Appliance Control Not Permitted For Outside Callers")
      << stranger;
  EXPECT_EQ(lamp_state(), "off");

  const std::string spoofed =
      send(tree_.family->port(), from_attacker(message("U1@C1.D1.H1", kLamp, "spoofed", "on")));
  EXPECT_EQ(status_of(spoofed), 401) << spoofed;
  EXPECT_NE(header_with(spoofed, "WWW-Authenticate", "realm=\"C1.D1.H1\""), "") << spoofed;
  EXPECT_EQ(lamp_state(), "off");

  // Each refusal logged once, with the source.
  const std::string log = read_file(tree_.family->log());
  EXPECT_NE(log.find("refused method=MESSAGE aor=lamp@C1.D1.H1 source=udp:127.0.0.66:"), std::string::npos)
      << log;
  EXPECT_NE(
      log.find("status=403 reason=\"Appliance Control Not Permitted For Outside Callers\" identity=none"),
      std::string::npos)
      << log;
  // A Home Assistant entity ("*.*" among the default appliances) is refused alike.
  const std::string entity = send(
      tree_.family->port(), from_attacker(message("U9@C9.D9.H9", "light.kitchen@C1.D1.H1", "entity", "on")));
  EXPECT_EQ(status_line(entity), "SIP/2.0 403 Appliance Control Not Permitted For Outside Callers") << entity;
  // Named at the family server's address (a 302's Contact shows it), both are the same appliances.
  const std::string at_address = "@127.0.0.1:" + std::to_string(tree_.family->port());
  for (const std::string appliance : {"lamp", "light.kitchen"}) {
    const std::string refused =
        send(tree_.family->port(),
             from_attacker(message("U9@C9.D9.H9", appliance + at_address, "at-address-" + appliance, "on")));
    EXPECT_EQ(status_line(refused), "SIP/2.0 403 Appliance Control Not Permitted For Outside Callers")
        << refused;
  }
  EXPECT_EQ(lamp_state(), "off");
  EXPECT_EQ(counter("H1", "refusals_total"), 4u);
}

TEST_F(AttacksTest, TheFamilyDoesWhatItsRolesAllow) {
  // The owner switches the lamp with its password.
  const std::string on =
      send(tree_.family->port(), message("U1@C1.D1.H1", kLamp, "owner-on", "on"), "U1", Passwords::kU1);
  EXPECT_EQ(status_of(on), 200) << on << read_file(tree_.family->log());
  EXPECT_EQ(lamp_state(), "on");
  // A guest, authenticated, may not.
  const std::string guest =
      send(tree_.family->port(), message("U4@C1.D1.H1", kLamp, "guest-off", "off"), "U4", Passwords::kU4);
  EXPECT_EQ(status_line(guest), "SIP/2.0 403 Appliance Control Not Permitted For Guests") << guest;
  EXPECT_EQ(lamp_state(), "on");
  // A member may not look up another user's bindings; the user itself may.
  Request lookup{"OPTIONS", "sip:U1@C1.D1.H1", "U3@C1.D1.H1", "U1@C1.D1.H1", "u3-lookup", 1, "", ""};
  const std::string refused = send(tree_.family->port(), lookup, "U3", Passwords::kU3);
  EXPECT_EQ(status_line(refused), "SIP/2.0 403 Binding Lookup Not Permitted For Members") << refused;
  Request own{"OPTIONS", "sip:U1@C1.D1.H1", "U1@C1.D1.H1", "U1@C1.D1.H1", "u1-lookup", 1, "", ""};
  // Allowed: the tree answers that U1 has no binding now.
  EXPECT_EQ(status_of(send(tree_.family->port(), own, "U1", Passwords::kU1)), 480);
  // A wrong password is refused and logged for fail2ban; nothing bound.
  const std::string wrong =
      send(tree_.family->port(), registration("U1@C1.D1.H1", "wrong", "Contact: <sip:u1@127.0.0.1:5998>\n"),
           "U1", "not the password");
  EXPECT_EQ(status_of(wrong), 401) << wrong;
  EXPECT_EQ(bindings("H1", "U1@C1.D1.H1").find("5998"), std::string::npos);
  EXPECT_EQ(counter("H1", "refusals_total"), 2u);
}

// The tree's own lookups with the policy loaded: the family server finds its
// own users (its OPTIONS come back to it from its own address); another
// family's server, unauthenticated without TLS, is refused by default.
TEST_F(AttacksTest, BindingLookupsThroughTheTree) {
  const std::string registered =
      send(tree_.family->port(),
           registration("U1@C1.D1.H1", "u1-phone", "Contact: <sip:u1@127.0.0.1:5999>\nExpires: 600\n"), "U1",
           Passwords::kU1);
  ASSERT_EQ(status_of(registered), 200) << registered;
  const json own = ctl_json("H1", {"locate", "U1@C1.D1.H1"});
  ASSERT_TRUE(own.is_object()) << tree_.logs();
  EXPECT_EQ(own["status"], 302) << own.dump();
  EXPECT_NE(own["contacts"].dump().find("sip:u1@127.0.0.1:5999"), std::string::npos) << own.dump();

  // Another host: H2's first listener, whence its own requests leave, is 127.0.0.2.
  const auto h2 = tree_.start_family("H2", "h2 at the community", "", "127.0.0.2");
  ASSERT_TRUE(h2);
  const json other = ctl_json("H2", {"locate", "U1@C1.D1.H1"});
  ASSERT_TRUE(other.is_object()) << read_file(h2->log());
  EXPECT_EQ(other["status"], 403) << other.dump();
  EXPECT_EQ(other["reason"], "Binding Lookup Not Permitted For Outside Callers") << other.dump();
  EXPECT_EQ(other["contacts"].size(), 0u) << other.dump();
  const std::string log = read_file(tree_.family->log());
  EXPECT_NE(log.find("refused method=OPTIONS aor=U1@C1.D1.H1 source=udp:127.0.0.2:"), std::string::npos)
      << log;
  EXPECT_NE(log.find("status=403 reason=\"Binding Lookup Not Permitted For Outside Callers\" identity=none"),
            std::string::npos)
      << log;
}
