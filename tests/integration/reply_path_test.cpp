// One reply path: every transport answers through the one response writer,
// so the same request over UDP and over TCP gets the same status line, the
// same headers and the same To-tag. Only the Via differs (its transport and
// the received/rport the server adds), and a Date a second boundary may split.
#include <gtest/gtest.h>

#include <sstream>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

std::string request(const std::string& method, const std::string& transport, const std::string& port,
                    const std::string& extra) {
  return method + " sip:U9@C1.D1.H1 SIP/2.0\r\nVia: SIP/2.0/" + transport + " 127.0.0.1:" + port +
         ";rport;branch=z9hG4bK-same-" + method +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:U9@C1.D1.H1>;tag=same\r\n" +
         "To: <sip:U9@C1.D1.H1>\r\nCall-ID: same-" + method + "@reply-path\r\nCSeq: 7 " + method + "\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

// The response without its Via and Date lines.
std::string comparable(const std::string& response) {
  std::istringstream lines(response);
  std::string out;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Via:", 0) != 0 && line.rfind("Date:", 0) != 0) out += line + "\n";
  return out;
}

TEST(ReplyPath, TheSameRequestOverUdpAndTcpGetsTheSameResponse) {
  TempDir dir;
  HomesipServer server(
      dir, ServerOptions{"H1", "C1.D1",
                         "  - plugin: location-sqlite\n    path: " + (dir / "location.sqlite").string() +
                             "\n  - plugin: registrar\n    domains: [C1.D1.H1]\n",
                         ""});
  server.start();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"OPTIONS", ""},                  // the core's own 200
      {"REGISTER", ""},                 // the registrar's fetch: 200 with no bindings (and a Date)
      {"BYE", ""},                      // 481
      {"MESSAGE", ""},                  // 501
      {"OPTIONS", "Require: foo\r\n"},  // 420 with Unsupported
      {"REGISTER", "Contact: <sip:U9@127.0.0.1:9>;expires=-1\r\n"},  // the registrar's 400
  };
  for (const auto& [method, extra] : cases) {
    const std::string udp = udp_exchange(server.port(), request(method, "UDP", "$PORT$", extra));
    TcpClient tcp(server.port());
    tcp.send(request(method, "TCP", std::to_string(tcp.local_port()), extra));
    const std::string over_tcp = tcp.response();
    ASSERT_GE(status_of(udp), 200) << method << " " << extra;
    EXPECT_EQ(comparable(udp), comparable(over_tcp)) << method << " " << extra;
    EXPECT_NE(udp.find("To: <sip:U9@C1.D1.H1>;tag="), std::string::npos) << udp;
  }
}

}  // namespace
