// The appliance hub in a real homesipd with appliances-virtual: MESSAGE,
// SUBSCRIBE/NOTIFY with SIPp as the watcher, PUBLISH; then a tree C1 -> D1 ->
// H1 with passwords and the policy: a request for an entity walks down by
// 302s and is served at H1, and a guest is refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
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

const std::string kEntities =
    "    entities:\n"
    "      - \"light.kitchen name='Kitchen light'\"\n"
    "      - \"switch.coffee\"\n";

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

std::string body_of(const std::string& response) {
  const size_t blank = response.find("\r\n\r\n");
  return blank == std::string::npos ? "" : response.substr(blank + 4);
}

// The value of the first `name` header line, "" when none.
std::string header_of(const std::string& message, const std::string& name) {
  const std::string prefix = "\r\n" + name + ": ";
  const size_t pos = message.find(prefix);
  if (pos == std::string::npos) return "";
  const size_t start = pos + prefix.size();
  return message.substr(start, message.find("\r\n", start) - start);
}

// One request as the tests send it ("$PORT$" is the sender's port).
struct Request {
  std::string method = "MESSAGE";
  std::string uri = "sip:light.kitchen@C1.D1.H1";
  std::string from = "U1@C1.D1.H1";
  std::string call_id = "call";
  int cseq = 1;
  std::string headers;  // extra lines, each ending in \n
  std::string body;
  std::string content_type = "application/json";

  std::string text() const {
    const std::string to = uri.substr(4);
    std::string t = method + " " + uri + " SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bK-" +
                    call_id + "-" + std::to_string(cseq) + "\nMax-Forwards: 70\nFrom: <sip:" + from +
                    ">;tag=" + call_id + "\nTo: <sip:" + to + ">\nCall-ID: " + call_id +
                    "@hub-test\nCSeq: " + std::to_string(cseq) + " " + method + "\n" + headers;
    if (!body.empty()) t += "Content-Type: " + content_type + "\n";
    return t + "Content-Length: " + std::to_string(body.size()) + "\n\n" + body;
  }
};

Request call(const std::string& call_id, const std::string& body) {
  Request request;
  request.call_id = call_id;
  request.body = body;
  return request;
}

int ctl(const std::string& socket, const std::vector<std::string>& arguments, std::string* out = nullptr) {
  std::vector<std::string> argv{HOMESIP_TEST_HOMESIPCTL, "--socket", socket};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::string ignored;
  return run(argv, out ? out : &ignored, std::chrono::seconds(10));
}

json ctl_json(const std::string& socket, const std::vector<std::string>& arguments) {
  std::vector<std::string> argv{"--json"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::string out;
  if (ctl(socket, argv, &out) != 0) return nullptr;
  return json::parse(out, nullptr, false);
}

// The entity's row of `homesipctl entities`, null when absent.
json entity_row(const std::string& socket, const std::string& id) {
  const json all = ctl_json(socket, {"entities"});
  if (all.is_array())
    for (const json& row : all)
      if (row.value("entity_id", "") == id) return row;
  return nullptr;
}

std::string state_of(const std::string& socket, const std::string& id) {
  const json row = entity_row(socket, id);
  return row.is_object() ? row.value("state", "") : "";
}

// A watcher of light.kitchen on a UDP port of its own: it subscribes, then a
// thread of its own answers each NOTIFY 200 at its Via's sent-by (the hub's
// client port) and keeps each one's state by CSeq.
class UdpWatcher {
 public:
  UdpWatcher(uint16_t hub_port, const std::string& call_id) : thread_([this] { answer_notifies(); }) {
    Request subscribe;
    subscribe.method = "SUBSCRIBE";
    subscribe.call_id = call_id;
    subscribe.headers = "Event: homesip-entity\nContact: <sip:w@127.0.0.1:$PORT$>\nExpires: 600\n";
    std::string text;
    for (const char c : subscribe.text()) text += c == '\n' ? std::string("\r\n") : std::string(1, c);
    for (size_t pos; (pos = text.find("$PORT$")) != std::string::npos;)
      text.replace(pos, 6, std::to_string(socket_.port()));
    socket_.send(hub_port, text);
  }
  ~UdpWatcher() {
    stop_ = true;
    thread_.join();
  }
  int subscribe_status() const { return subscribe_status_; }
  // The state each NOTIFY carried, by CSeq (a retransmission counts once).
  std::map<int, std::string> states() const {
    const std::lock_guard lock(mutex_);
    return states_;
  }
  // A retransmitted NOTIFY that carried another state than the first: none.
  int conflicting() const { return conflicting_; }

 private:
  void answer_notifies() {
    while (!stop_) {
      const std::string message = socket_.receive(std::chrono::milliseconds(50));
      if (message.rfind("SIP/2.0 ", 0) == 0) subscribe_status_ = status_of(message);
      if (message.rfind("NOTIFY ", 0) != 0) continue;
      const std::string via = header_of(message, "Via");
      const size_t colon = via.find(':', via.find(' '));
      if (colon == std::string::npos) continue;
      std::string ok = "SIP/2.0 200 OK\r\nVia: " + via + "\r\n";
      for (const char* name : {"From", "To", "Call-ID", "CSeq"})
        ok += name + (": " + header_of(message, name)) + "\r\n";
      socket_.send(static_cast<uint16_t>(std::stoi(via.substr(colon + 1))), ok + "Content-Length: 0\r\n\r\n");
      const int cseq = std::stoi(header_of(message, "CSeq"));
      const std::string state = json::parse(body_of(message), nullptr, false).value("state", "");
      const std::lock_guard lock(mutex_);
      const auto [it, first] = states_.emplace(cseq, state);
      if (!first && it->second != state) ++conflicting_;
    }
  }

  UdpSocket socket_;
  std::atomic<bool> stop_{false};
  std::atomic<int> subscribe_status_{0};
  std::atomic<int> conflicting_{0};
  mutable std::mutex mutex_;
  std::map<int, std::string> states_;
  std::thread thread_;  // last: starts once the rest exists
};

// ---- one family server, no tree, no authentication: with one loop and with
// two (server.loops; the kernel spreads the tests' source ports over both) ----

class HubServerTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const std::string plugins = "  - plugin: appliance-hub\n    domain: C1.D1.H1\n    min_expires: 1\n" +
                                std::string("  - plugin: appliances-virtual\n") + kEntities;
    std::string server_yaml = "  admin_socket: " + socket() + "\n";
    if (GetParam() > 1) server_yaml += "  loops: " + std::to_string(GetParam()) + "\n";
    server_ = std::make_unique<HomesipServer>(dir_, ServerOptions{"H1", "C1.D1", plugins, server_yaml});
    server_->start();
  }
  std::string socket() const { return (dir_ / "h1.sock").string(); }
  std::string send(const Request& request) { return udp_exchange(server_->port(), request.text()); }

  // SIPp with `scenario` as the watcher of light.kitchen, in the background.
  std::unique_ptr<Process> watcher(const std::string& scenario) {
    return std::make_unique<Process>(std::vector<std::string>{"sipp",
                                                              "127.0.0.1:" + std::to_string(server_->port()),
                                                              "-sf",
                                                              std::string(HUB_SCENARIO_DIR) + "/" + scenario,
                                                              "-t",
                                                              "u1",
                                                              "-i",
                                                              "127.0.0.1",
                                                              "-p",
                                                              std::to_string(free_port()),
                                                              "-m",
                                                              "1",
                                                              "-s",
                                                              "light.kitchen",
                                                              "-key",
                                                              "domain",
                                                              "C1.D1.H1",
                                                              "-key",
                                                              "hub_host",
                                                              "127.0.0.1",
                                                              "-key",
                                                              "hub_port",
                                                              std::to_string(server_->port()),
                                                              "-trace_msg",
                                                              "-message_file",
                                                              (dir_ / (scenario + ".messages")).string(),
                                                              "-nostdin",
                                                              "-timeout",
                                                              "30s",
                                                              "-timeout_error",
                                                              "-trace_err",
                                                              "-error_file",
                                                              (dir_ / (scenario + ".errors")).string()},
                                     dir_ / (scenario + ".log"));
  }
  // The NOTIFYs SIPp received, retransmissions included: a 200 that went
  // astray makes the hub send its NOTIFY again.
  int notifies_received(const std::string& scenario) {
    const auto path = dir_ / (scenario + ".messages");
    if (!std::filesystem::exists(path)) return -1;
    std::istringstream trace(read_file(path));
    int count = 0;
    for (std::string line; std::getline(trace, line);)
      if (line.rfind("NOTIFY sip:", 0) == 0) ++count;
    return count;
  }
  std::string sipp_errors(const std::string& scenario) {
    const auto path = dir_ / (scenario + ".errors");
    return std::filesystem::exists(path) ? read_file(path) : "";
  }

  TempDir dir_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_P(HubServerTest, TurnOnAnswersTheStateAsJson) {
  const std::string response = send(call("on1", R"({"service": "turn_on", "data": {"brightness": 128}})"));
  ASSERT_EQ(status_of(response), 200) << response << read_file(server_->log());
  EXPECT_EQ(header_of(response, "Content-Type"), "application/json");
  const json state = json::parse(body_of(response), nullptr, false);
  EXPECT_EQ(state["entity_id"], "light.kitchen");
  EXPECT_EQ(state["state"], "on");
  EXPECT_EQ(state["attributes"]["brightness"], 128);
  EXPECT_EQ(state["attributes"]["friendly_name"], "Kitchen light");
  EXPECT_EQ(state_of(socket(), "light.kitchen"), "on");
}

TEST_P(HubServerTest, ErrorsComeAsJson) {
  const std::string malformed = send(call("bad1", "{\"service\": "));
  EXPECT_EQ(status_of(malformed), 400) << malformed;
  EXPECT_EQ(header_of(malformed, "Content-Type"), "application/json");
  EXPECT_EQ(json::parse(body_of(malformed), nullptr, false)["error"], "invalid_json") << malformed;

  Request unknown = call("bad2", "{}");
  unknown.uri = "sip:light.garage@C1.D1.H1";
  const std::string missing = send(unknown);
  EXPECT_EQ(status_of(missing), 404) << missing;
  EXPECT_EQ(json::parse(body_of(missing), nullptr, false)["error"], "unknown_entity");

  const std::string no_service = send(call("bad3", R"({"service": "fly"})"));
  EXPECT_EQ(status_of(no_service), 400) << no_service;
  EXPECT_EQ(json::parse(body_of(no_service), nullptr, false)["error"], "unknown_service");

  const std::string bad_data = send(call("bad4", R"({"service": "turn_on", "data": {"brightness": 300}})"));
  EXPECT_EQ(status_of(bad_data), 400) << bad_data;
  EXPECT_EQ(json::parse(body_of(bad_data), nullptr, false)["error"], "invalid_data");
  EXPECT_EQ(state_of(socket(), "light.kitchen"), "off");
}

TEST_P(HubServerTest, RetransmittedToggleTogglesOnce) {
  const Request toggle = call("toggle1", R"({"service": "toggle"})");
  const std::string first = send(toggle);
  const std::string again = send(toggle);  // same Call-ID, CSeq and From-tag
  ASSERT_EQ(status_of(first), 200) << first;
  ASSERT_EQ(status_of(again), 200) << again;
  EXPECT_EQ(json::parse(body_of(first))["state"], "on");
  EXPECT_EQ(json::parse(body_of(again))["state"], "on");
  EXPECT_EQ(state_of(socket(), "light.kitchen"), "on");
  std::string stats;
  ctl(socket(), {"stats"}, &stats);
  EXPECT_NE(stats.find("homesip_appliance_hub_service_calls_total: 1\n"), std::string::npos) << stats;
}

TEST_P(HubServerTest, SippWatchesChangesRefreshesAndUnsubscribes) {
  auto sipp = watcher("watch.xml");
  // Subscribed: then another client switches the light.
  ASSERT_TRUE(eventually(
      [&] {
        const json row = entity_row(socket(), "light.kitchen");
        return row.is_object() && row["watchers"].size() == 1;
      },
      std::chrono::seconds(10)))
      << read_file(server_->log());
  const std::string on = send(call("watch-on", R"({"service": "turn_on"})"));
  ASSERT_EQ(status_of(on), 200) << on;
  EXPECT_EQ(sipp->wait(std::chrono::seconds(30)), 0) << sipp_errors("watch.xml") << read_file(server_->log());
  EXPECT_EQ(entity_row(socket(), "light.kitchen")["watchers"].size(), 0u);
  // The first state, the change, the refresh's and the last: each once.
  EXPECT_EQ(notifies_received("watch.xml"), 4) << read_file(dir_ / "watch.xml.messages");
}

TEST_P(HubServerTest, UnrefreshedSubscriptionExpires) {
  auto sipp = watcher("expire.xml");
  EXPECT_EQ(sipp->wait(std::chrono::seconds(20)), 0)
      << sipp_errors("expire.xml") << read_file(server_->log());
  EXPECT_EQ(notifies_received("expire.xml"), 2) << read_file(dir_ / "expire.xml.messages");
}

TEST_P(HubServerTest, OtherEventPackagesGet489) {
  Request subscribe;
  subscribe.method = "SUBSCRIBE";
  subscribe.call_id = "presence";
  subscribe.headers = "Event: presence\nContact: <sip:w@127.0.0.1:$PORT$>\nExpires: 60\n";
  const std::string response = send(subscribe);
  EXPECT_EQ(status_of(response), 489) << response;
  EXPECT_EQ(header_of(response, "Allow-Events"), "homesip-entity");
}

TEST_P(HubServerTest, PublishWithEtagsAndExpiry) {
  Request publish;
  publish.method = "PUBLISH";
  publish.uri = "sip:binary_sensor.door@C1.D1.H1";
  publish.from = "door@C1.D1.H1";
  publish.call_id = "pub1";
  publish.headers = "Event: homesip-entity\nExpires: 60\n";
  publish.body = R"({"state": "on", "attributes": {"device_class": "door"}})";
  const std::string created = send(publish);
  ASSERT_EQ(status_of(created), 200) << created << read_file(server_->log());
  const std::string etag = header_of(created, "SIP-ETag");
  ASSERT_FALSE(etag.empty()) << created;
  EXPECT_EQ(header_of(created, "Expires"), "60");
  EXPECT_EQ(state_of(socket(), "binary_sensor.door"), "on");

  // Refresh: no body; a new tag.
  Request refresh = publish;
  refresh.cseq = 2;
  refresh.body.clear();
  refresh.headers = "Event: homesip-entity\nExpires: 2\nSIP-If-Match: " + etag + "\n";
  const std::string refreshed = send(refresh);
  ASSERT_EQ(status_of(refreshed), 200) << refreshed;
  const std::string etag2 = header_of(refreshed, "SIP-ETag");
  EXPECT_NE(etag2, etag);

  // The old tag is gone: 412, and the state stays.
  Request stale = publish;
  stale.cseq = 3;
  stale.body = R"({"state": "off"})";
  stale.headers = "Event: homesip-entity\nExpires: 60\nSIP-If-Match: " + etag + "\n";
  EXPECT_EQ(status_of(send(stale)), 412);
  EXPECT_EQ(state_of(socket(), "binary_sensor.door"), "on");

  // Not refreshed within its 2 s: unavailable.
  EXPECT_TRUE(eventually([&] { return state_of(socket(), "binary_sensor.door") == "unavailable"; },
                         std::chrono::seconds(6)));

  // A device plugin's entity is not for PUBLISH.
  Request to_plugin = publish;
  to_plugin.call_id = "pub2";
  to_plugin.uri = "sip:light.kitchen@C1.D1.H1";
  EXPECT_EQ(status_of(send(to_plugin)), 403);
  EXPECT_EQ(state_of(socket(), "light.kitchen"), "off");
}

// Watchers on ports of their own and toggles from two senders at once, each
// from a port of its own: with two loops, requests of both loops reach the
// hub together. Every toggle is answered and reaches every watcher once, in
// CSeq order: the light's states alternate, from off, and it ends off.
TEST_P(HubServerTest, WatchersOnManyPortsSeeEveryToggleOnceInOrder) {
  constexpr int kWatchers = 4;
  constexpr int kTogglesPerSender = 15;
  constexpr int kNotifies = 1 + 2 * kTogglesPerSender;  // the first state, then one per toggle
  std::vector<std::unique_ptr<UdpWatcher>> watchers;
  for (int i = 0; i < kWatchers; ++i)
    watchers.push_back(std::make_unique<UdpWatcher>(server_->port(), "watcher-" + std::to_string(i)));
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& w : watchers)
          if (w->subscribe_status() != 200 || w->states().size() != 1) return false;
        return true;
      },
      std::chrono::seconds(10)))
      << read_file(server_->log());

  std::atomic<int> answered_ok{0};
  const auto toggle_from_new_ports = [&](const std::string& name) {
    for (int i = 0; i < kTogglesPerSender; ++i)
      if (status_of(send(call(name + std::to_string(i), R"({"service": "toggle"})"))) == 200) ++answered_ok;
  };
  std::thread sender_a(toggle_from_new_ports, "toggle-a-");
  std::thread sender_b(toggle_from_new_ports, "toggle-b-");
  sender_a.join();
  sender_b.join();
  EXPECT_EQ(answered_ok, 2 * kTogglesPerSender);

  for (const auto& w : watchers) {
    EXPECT_TRUE(eventually([&] { return w->states().size() >= static_cast<size_t>(kNotifies); },
                           std::chrono::seconds(15)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // room for a NOTIFY too many
  for (const auto& w : watchers) {
    const std::map<int, std::string> states = w->states();
    ASSERT_EQ(states.size(), static_cast<size_t>(kNotifies)) << read_file(server_->log());
    int expected_cseq = 1;
    for (const auto& [cseq, state] : states) {
      EXPECT_EQ(cseq, expected_cseq);
      EXPECT_EQ(state, expected_cseq % 2 ? "off" : "on") << "NOTIFY CSeq " << cseq;
      ++expected_cseq;
    }
    EXPECT_EQ(w->conflicting(), 0);
  }
  EXPECT_EQ(state_of(socket(), "light.kitchen"), "off");
  std::string stats;
  ctl(socket(), {"stats"}, &stats);
  EXPECT_NE(stats.find("homesip_appliance_hub_service_calls_total: " + std::to_string(2 * kTogglesPerSender) +
                       "\n"),
            std::string::npos)
      << stats;
  EXPECT_NE(
      stats.find("homesip_appliance_hub_notifies_total: " + std::to_string(kWatchers * kNotifies) + "\n"),
      std::string::npos)
      << stats;
}

INSTANTIATE_TEST_SUITE_P(Loops, HubServerTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 1 ? std::string("OneLoop")
                                                  : std::to_string(info.param) + "Loops";
                         });

// ---- a tree with passwords and the policy ----

struct Passwords {
  static constexpr const char* kU3 = "u3 member";
  static constexpr const char* kU4 = "u4 guest";
};

class HubTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        tree_.start("  - plugin: appliance-hub\n  - plugin: appliances-virtual\n" + kEntities));
    ASSERT_EQ(tree_.add_user("H1", "U3@C1.D1.H1", "member", Passwords::kU3), 0);
    ASSERT_EQ(tree_.add_user("H1", "U4@C1.D1.H1", "guest", Passwords::kU4), 0);
  }

  // Sends `request` to `port`; when challenged, answers once with `user`'s password.
  std::string send(uint16_t port, Request request, const std::string& user = "",
                   const std::string& password = "") {
    const std::string first = udp_exchange(port, request.text());
    const int status = status_of(first);
    if (user.empty() || (status != 401 && status != 407)) return first;
    const bool proxy = status == 407;
    std::string challenge_text;
    for (size_t pos = 0;;) {
      const std::string name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
      pos = first.find("\r\n" + name + ": ", pos);
      if (pos == std::string::npos) break;
      const size_t start = pos + name.size() + 4;
      const std::string value = first.substr(start, first.find("\r\n", start) - start);
      if (value.find("SHA-256") != std::string::npos) challenge_text = value;
      pos = start;
    }
    const auto challenge = digest::parse(challenge_text);
    if (!challenge) return first;
    const auto credentials =
        digest::authorization(*challenge, user, password, request.method, request.uri, "hub-cnonce", 1);
    if (!credentials) return first;
    request.cseq += 1;
    request.headers += std::string(proxy ? "Proxy-Authorization: " : "Authorization: ") + *credentials + "\n";
    return udp_exchange(port, request.text());
  }

  TempDir dir_;
  SecuredTree tree_{dir_, HOMESIP_TEST_HOMESIPCTL};
};

TEST_F(HubTreeTest, ARequestForAnEntityIsRedirectedDownAndServedAtTheFamily) {
  Request on = call("tree-on", R"({"service": "turn_on"})");
  on.from = "U3@C1.D1.H1";
  const std::string at_top = send(tree_.province->port(), on);
  ASSERT_EQ(status_of(at_top), 302) << at_top << read_file(tree_.province->log());
  EXPECT_NE(header_of(at_top, "Contact").find(":" + std::to_string(tree_.community->port())),
            std::string::npos)
      << at_top;
  on.cseq = 10;
  const std::string at_community = send(tree_.community->port(), on);
  ASSERT_EQ(status_of(at_community), 302) << at_community;
  EXPECT_NE(header_of(at_community, "Contact").find(":" + std::to_string(tree_.family->port())),
            std::string::npos)
      << at_community;
  on.cseq = 20;
  const std::string served = send(tree_.family->port(), on, "U3", Passwords::kU3);
  ASSERT_EQ(status_of(served), 200) << served << read_file(tree_.family->log());
  EXPECT_EQ(json::parse(body_of(served), nullptr, false)["state"], "on") << served;
  EXPECT_EQ(state_of(tree_.socket_of("H1"), "light.kitchen"), "on");
}

TEST_F(HubTreeTest, AGuestMayNotControlAndTheEntityStays) {
  Request on = call("guest-on", R"({"service": "turn_on"})");
  on.from = "U4@C1.D1.H1";
  const std::string refused = send(tree_.family->port(), on, "U4", Passwords::kU4);
  EXPECT_EQ(status_of(refused), 403) << refused;
  EXPECT_EQ(refused.substr(0, refused.find("\r\n")),
            "SIP/2.0 403 Appliance Control Not Permitted For Guests");
  EXPECT_EQ(state_of(tree_.socket_of("H1"), "light.kitchen"), "off");
  // Without credentials: challenged, nothing switched.
  Request stranger = call("stranger-on", R"({"service": "turn_on"})");
  stranger.from = "U9@C9.D9.H9";
  EXPECT_EQ(status_of(send(tree_.family->port(), stranger)), 403);
  EXPECT_EQ(state_of(tree_.socket_of("H1"), "light.kitchen"), "off");
}

// A phone of another family (U1@C1.D1.H2) asks for H1's light as it would
// call H1's users. Through its own family server as outbound proxy (a Route
// to H2), H2 resolves the entity id down the tree like a user's AOR, and
// H1's policy refuses the lookup of an outsider, as it refuses the lookup of
// U3. Sent to H2 and D1 as redirect servers, it is sent up to the top and
// down to H1 by 302s, and H1 refuses the MESSAGE itself. The light stays off.
TEST_F(HubTreeTest, AnEntityAskedFromAnotherFamilyIsRefusedAtItsFamilyServer) {
  const auto h2 = tree_.start_family("H2", "h2 at the community", "", "127.0.0.2");
  ASSERT_TRUE(h2);
  ASSERT_EQ(tree_.add_user("H2", "U1@C1.D1.H2", "member", "u1 of h2"), 0);
  const auto status_line = [](const std::string& response) {
    return response.substr(0, response.find("\r\n"));
  };
  const std::string via_h2 = "Route: <sip:127.0.0.1:" + std::to_string(h2->port()) + ";lr>\n";

  Request on = call("h2-on", R"({"service": "turn_on"})");
  on.from = "U1@C1.D1.H2";
  on.headers = via_h2;
  const std::string proxied = send(h2->port(), on, "U1", "u1 of h2");
  EXPECT_EQ(status_line(proxied), "SIP/2.0 403 Appliance Watching Not Permitted For Outside Callers")
      << proxied << read_file(h2->log());
  Request watch = on;
  watch.method = "SUBSCRIBE";
  watch.call_id = "h2-watch";
  watch.body.clear();
  watch.headers = via_h2 + "Event: homesip-entity\nContact: <sip:U1@127.0.0.1:$PORT$>\nExpires: 60\n";
  EXPECT_EQ(status_line(send(h2->port(), watch, "U1", "u1 of h2")),
            "SIP/2.0 403 Appliance Watching Not Permitted For Outside Callers");
  // The same as for a user of H1.
  Request to_user = call("h2-user", "");
  to_user.uri = "sip:U3@C1.D1.H1";
  to_user.from = "U1@C1.D1.H2";
  to_user.headers = via_h2;
  EXPECT_EQ(status_line(send(h2->port(), to_user, "U1", "u1 of h2")),
            "SIP/2.0 403 Binding Lookup Not Permitted For Outside Callers");
  const std::string h1_log = read_file(tree_.family->log());
  EXPECT_EQ(count_of(h1_log, "refused method=OPTIONS aor=light.kitchen@C1.D1.H1 source=udp:127.0.0.2:"), 2u)
      << h1_log;

  // Without a Route: H2 sends it to the top, D1 down to H1, which refuses the MESSAGE.
  Request redirected = call("h2-redirected", R"({"service": "turn_on"})");
  redirected.from = "U1@C1.D1.H2";
  const std::string up = send(h2->port(), redirected, "U1", "u1 of h2");
  ASSERT_EQ(status_of(up), 302) << up;
  EXPECT_NE(header_of(up, "Contact").find(":" + std::to_string(tree_.province->port())), std::string::npos)
      << up;
  redirected.cseq = 10;
  const std::string down = send(tree_.community->port(), redirected);
  ASSERT_EQ(status_of(down), 302) << down;
  EXPECT_NE(header_of(down, "Contact").find(":" + std::to_string(tree_.family->port())), std::string::npos)
      << down;
  redirected.cseq = 20;
  EXPECT_EQ(status_line(send(tree_.family->port(), redirected)),
            "SIP/2.0 403 Appliance Control Not Permitted For Outside Callers");
  EXPECT_EQ(state_of(tree_.socket_of("H1"), "light.kitchen"), "off");
}

}  // namespace
