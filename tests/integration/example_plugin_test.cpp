// The SDK's example plugin (sdk/examples/virtual-lamp, built from the same
// source) in a real homesipd next to location-sqlite and the registrar: a
// phone registers as the lamp's owner, switches the lamp on with a MESSAGE,
// gets the 200 with the new state and the lamp's own MESSAGE at its contact,
// and homesipctl reads the lamp's state through the plugin's command and its
// counter among the server's metrics.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

constexpr auto kWait = std::chrono::seconds(5);
const std::string kLamp = "sip:lamp@C1.D1.H1";

// The value of the first `name:` line of a SIP message, "" when absent.
std::string header_value(const std::string& message, const std::string& name) {
  const std::string key = "\r\n" + name + ":";
  const size_t at = message.find(key);
  if (at == std::string::npos) return "";
  size_t start = at + key.size();
  while (start < message.size() && message[start] == ' ') ++start;
  return message.substr(start, message.find("\r\n", start) - start);
}

// Every line of header `name`, with their line ends, in order.
std::string header_lines(const std::string& message, const std::string& name) {
  std::string lines;
  for (size_t at = message.find("\r\n" + name + ":"); at != std::string::npos;
       at = message.find("\r\n" + name + ":", at + 2))
    lines += message.substr(at + 2, message.find("\r\n", at + 2) - at);
  return lines;
}

std::string body_of(const std::string& message) {
  const size_t end = message.find("\r\n\r\n");
  return end == std::string::npos ? "" : message.substr(end + 4);
}

std::string first_line(const std::string& message) { return message.substr(0, message.find("\r\n")); }

// The port of the top Via's sent-by: where a response to that request goes.
uint16_t via_port(const std::string& request) {
  const std::string via = header_value(request, "Via");
  const size_t colon = via.find(':', via.find(' '));
  if (colon == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(via.substr(colon + 1)));
}

// A 200 to `request` as a UA sends it: its Via lines, From, To with a tag,
// Call-ID and CSeq.
std::string ok_to(const std::string& request) {
  return "SIP/2.0 200 OK\r\n" + header_lines(request, "Via") + "From: " + header_value(request, "From") +
         "\r\nTo: " + header_value(request, "To") +
         ";tag=owner-phone\r\nCall-ID: " + header_value(request, "Call-ID") +
         "\r\nCSeq: " + header_value(request, "CSeq") + "\r\nContent-Length: 0\r\n\r\n";
}

std::string sip_request(const std::string& method, const std::string& uri, const std::string& to,
                        uint16_t local_port, const std::string& branch, uint32_t cseq,
                        const std::string& extra_headers, const std::string& body) {
  return method + " " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(local_port) +
         ";rport;branch=z9hG4bK" + branch + "\r\nMax-Forwards: 70\r\nFrom: <sip:U1@C1.D1.H1>;tag=u1\r\n" +
         "To: <" + to + ">\r\nCall-ID: " + branch + "@lamp-test\r\nCSeq: " + std::to_string(cseq) + " " +
         method + "\r\n" + extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

class ExamplePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    // A plain server (no tree plugin): the lamp and the registrar name their domain.
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: virtual-lamp\n    device: lamp\n    domain: C1.D1.H1\n"
                            "    owner: U1@C1.D1.H1\n"
                            "  - plugin: registrar\n    domains: [C1.D1.H1]\n"
                            "  - plugin: location-sqlite\n    path: " +
                                (dir_ / "location.sqlite").string() + "\n",
                            "  admin_socket: " + socket_ + "\n"});
    // The lamp is listed first on purpose: its phase, not the list, puts it in the chain.
    server_->set_extra_arguments(
        {"--set", "server.plugin_dirs=[" + plugin_dir() + ", " + HOMESIP_TEST_EXAMPLE_PLUGIN_DIR + "]"});
    server_->start();
  }

  // Sends `request` from the phone and returns the next datagram that is a
  // response, "" after kWait.
  std::string exchange(const std::string& request) {
    phone_.send(server_->port(), request);
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    for (int i = 0; i < 20 && std::chrono::steady_clock::now() < deadline; ++i) {
      std::string datagram = phone_.receive(kWait);
      if (datagram.rfind("SIP/2.0 ", 0) == 0) return datagram;
    }
    return "";
  }

  int ctl(const std::vector<std::string>& arguments, std::string* output) {
    std::vector<std::string> argv{HOMESIP_TEST_HOMESIPCTL, "--socket", socket_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, std::chrono::seconds(10));
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
  UdpSocket phone_;  // U1's phone: registers, switches the lamp, hears the news
};

TEST_F(ExamplePluginTest, SwitchingTheLampAnswersItsStateAndTellsTheOwnersPhone) {
  const std::string contact = "sip:U1@127.0.0.1:" + std::to_string(phone_.port());
  const std::string registered =
      exchange(sip_request("REGISTER", "sip:C1.D1.H1", "sip:U1@C1.D1.H1", phone_.port(), "reg1", 1,
                           "Contact: <" + contact + ">\r\nExpires: 600\r\n", ""));
  ASSERT_EQ(status_of(registered), 200) << registered;

  phone_.send(server_->port(), sip_request("MESSAGE", kLamp, kLamp, phone_.port(), "on1", 1,
                                           "Content-Type: text/plain\r\n", "on"));
  // The answer and the lamp's MESSAGE may arrive in either order.
  std::string answer, news;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (int i = 0; i < 20 && (answer.empty() || news.empty()) && std::chrono::steady_clock::now() < deadline;
       ++i) {
    const std::string datagram = phone_.receive(kWait);
    if (datagram.rfind("SIP/2.0 ", 0) == 0 && header_value(datagram, "CSeq") == "1 MESSAGE")
      answer = datagram;
    else if (datagram.rfind("MESSAGE ", 0) == 0 && news.empty())
      news = datagram;
  }
  ASSERT_EQ(status_of(answer), 200) << answer;
  EXPECT_EQ(header_value(answer, "Content-Type"), "text/plain") << answer;
  EXPECT_EQ(body_of(answer), "on") << answer;

  ASSERT_FALSE(news.empty()) << "no MESSAGE reached the owner's contact; log:\n" << read_file(server_->log());
  EXPECT_EQ(first_line(news), "MESSAGE " + contact + " SIP/2.0") << news;
  EXPECT_NE(header_value(news, "From").find("<sip:lamp@C1.D1.H1>"), std::string::npos) << news;
  EXPECT_NE(header_value(news, "To").find("<sip:U1@C1.D1.H1>"), std::string::npos) << news;
  EXPECT_EQ(header_value(news, "Content-Type"), "text/plain") << news;
  EXPECT_EQ(body_of(news), "lamp is on") << news;
  const uint16_t client_port = via_port(news);
  ASSERT_NE(client_port, 0) << news;
  phone_.send(client_port, ok_to(news));
  // Answered: the client transaction stops retransmitting (timer E would
  // resend after 500 ms), so nothing more arrives.
  const std::string more = phone_.receive(std::chrono::milliseconds(1500));
  EXPECT_EQ(more, "") << "the lamp's MESSAGE was sent again after its 200:\n" << more;

  // A lamp already on answers at once and tells nobody.
  const std::string again = exchange(
      sip_request("MESSAGE", kLamp, kLamp, phone_.port(), "on2", 2, "Content-Type: text/plain\r\n", "on"));
  ASSERT_EQ(status_of(again), 200) << again;
  EXPECT_EQ(body_of(again), "on") << again;
  EXPECT_EQ(phone_.receive(std::chrono::milliseconds(500)), "");

  // The plugin's counter, among the server's metrics.
  std::string out;
  ASSERT_EQ(ctl({"--json", "stats"}, &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["metrics"]["homesip_virtual_lamp_switches_total"], 1) << out;
  // The plugin's command.
  ASSERT_EQ(ctl({"--json", "virtual-lamp.state"}, &out), 0) << out << read_file(server_->log());
  const auto state = nlohmann::json::parse(out);
  EXPECT_EQ(state, nlohmann::json::parse(R"({"state":"on","changes":1})")) << out;
}

TEST_F(ExamplePluginTest, ALampNobodyOwnsAnswersWithoutWaitingAndRefusesNonsense) {
  // U1 never registered: the lookup finds no contact, the lamp still answers.
  const std::string on = exchange(sip_request("MESSAGE", kLamp, kLamp, phone_.port(), "on3", 1,
                                              "Content-Type: text/plain\r\n", "toggle"));
  ASSERT_EQ(status_of(on), 200) << on;
  EXPECT_EQ(body_of(on), "on") << on;
  const std::string nonsense = exchange(sip_request("MESSAGE", kLamp, kLamp, phone_.port(), "dance", 1,
                                                    "Content-Type: text/plain\r\n", "dance"));
  EXPECT_EQ(first_line(nonsense), "SIP/2.0 400 Unknown Command") << nonsense;
  std::string out;
  ASSERT_EQ(ctl({"--json", "virtual-lamp.state"}, &out), 0) << out << read_file(server_->log());
  EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json::parse(R"({"state":"on","changes":1})")) << out;
}

}  // namespace
