// Flows (RFC 5626) over real sockets: a phone registers at its family server
// H1 over TCP with a Contact nobody can connect to (as baresip's TLS Contact
// names a port without a certificate). A caller's INVITE routed to H1 (as the
// caller's own family server forwards it, following H1's 302) reaches the
// phone on the connection it registered over, with H1's double Record-Route
// (RFC 5658); the dialog's later requests come back through H1 and find the
// connection again, both ways. A forged token reaches nothing; when the
// connection is gone the request goes to the Contact.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

constexpr auto kWait = std::chrono::milliseconds(3000);
constexpr uint16_t kDeadPort = 9;  // the phone's Contact: nothing listens there

std::vector<std::string> headers(const std::string& message, const std::string& name) {
  return header_values(message, name);
}
std::string first_line(const std::string& message) { return start_line(message); }

// A phone that listens for TCP at its Contact: whether anyone connected.
class TcpListener {
 public:
  TcpListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 4) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("no TCP listener");
    port_ = ntohs(address.sin_port);
  }
  ~TcpListener() { ::close(fd_); }
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  uint16_t port() const { return port_; }
  bool connected_within(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// A response to `request` with its Vias, From, To (tagged), Call-ID, CSeq and
// Record-Route, as a UAS writes it.
std::string response_to(const std::string& request, int status, const std::string& reason,
                        const std::string& contact) {
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& via : headers(request, "Via")) out += "Via: " + via + "\r\n";
  for (const auto& route : headers(request, "Record-Route")) out += "Record-Route: " + route + "\r\n";
  out += "From: " + headers(request, "From").at(0) + "\r\n";
  out += "To: " + headers(request, "To").at(0) + ";tag=phone\r\n";
  out += "Call-ID: " + headers(request, "Call-ID").at(0) + "\r\n";
  out += "CSeq: " + headers(request, "CSeq").at(0) + "\r\nContact: <" + contact + ">\r\n";
  return out + "Content-Length: 0\r\n\r\n";
}

// Each test on one loop and on two (server.loops): with two, each loop has
// its own socket on every listener, the phone's connection is served by the
// loop that accepted it, and a request that lands on the other loop still
// reaches it.
class FlowTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const std::string extra_server_yaml =
        "  loops: " + std::to_string(GetParam()) + "\n  admin_socket: " + (dir_ / "h1.sock").string() + "\n";
    server_ = std::make_unique<HomesipServer>(
        dir_,
        ServerOptions{"H1", "C1.D1",
                      "  - plugin: location-sqlite\n    path: " + (dir_ / "h1.sqlite").string() + "\n" +
                          tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(kDeadPort)) +
                          "  - plugin: registrar\n",
                      extra_server_yaml});
    server_->start();
  }

  // Messages each loop received (homesipctl stats).
  std::vector<int> loop_messages() const {
    std::string out;
    if (run({HOMESIP_TEST_HOMESIPCTL, "--socket", (dir_ / "h1.sock").string(), "--json", "stats"}, &out,
            kWait) != 0)
      return {};
    std::vector<int> messages;
    const nlohmann::json stats = nlohmann::json::parse(out);  // kept: the loop below reads into it
    for (const auto& loop : stats["loops"]) messages.push_back(loop["messages"].get<int>());
    return messages;
  }
  std::string us() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::string log() const { return read_file(server_->log()); }
  std::string phone_contact() const {
    return "sip:U1@127.0.0.1:" + std::to_string(kDeadPort) + ";transport=tcp";
  }

  // U1 registers over `phone`'s connection; true on 200.
  bool register_phone(TcpClient& phone) { return register_phone(phone, phone_contact()); }
  bool register_phone(TcpClient& phone, const std::string& contact, const std::string& user = "U1") {
    const std::string via =
        "SIP/2.0/TCP 127.0.0.1:" + std::to_string(phone.local_port()) + ";branch=z9hG4bKreg";
    phone.send(crlf("REGISTER sip:C1.D1.H1 SIP/2.0\nVia: " + via + "\nMax-Forwards: 70\n" +
                    "From: <sip:" + user + "@C1.D1.H1>;tag=reg\nTo: <sip:" + user +
                    "@C1.D1.H1>\nCall-ID: reg-" + user + "@flow\nCSeq: 1 REGISTER\n" + "Contact: <" +
                    contact + ">\nExpires: 600\nContent-Length: 0\n\n"));
    return status_of(phone.response(kWait)) == 200;
  }
  // A request from the caller, in a dialog or not: `route` lines as given.
  std::string from_caller(const std::string& method, const std::string& uri,
                          const std::vector<std::string>& route, const std::string& branch,
                          const std::string& to_tag = "", const std::string& call_id = "call@flow") const {
    std::string text = method + " " + uri +
                       " SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(caller_.port()) +
                       ";rport;branch=" + branch + "\n";
    for (const auto& r : route) text += "Route: " + r + "\n";
    text += "Max-Forwards: 70\nFrom: <sip:U2@C1.D2.H2>;tag=caller\nTo: <sip:U1@C1.D1.H1>" +
            (to_tag.empty() ? "" : ";tag=" + to_tag) + "\nCall-ID: " + call_id +
            "\nCSeq: " + (method == "BYE" ? "2" : "1") + " " + method +
            "\nContact: <sip:U2@127.0.0.1:" + std::to_string(caller_.port()) + ">\nContent-Length: 0\n\n";
    return crlf(text);
  }

  // U1 registers `contact` over a connection, a call reaches it there, and
  // the connection closes: the call's Record-Route, as the INVITE had it.
  std::vector<std::string> dialog_whose_flow_is_gone(const std::string& contact) {
    std::vector<std::string> record_route;
    {
      TcpClient phone(server_->port());
      EXPECT_TRUE(register_phone(phone, contact)) << log();
      caller_.send(server_->port(),
                   from_caller("INVITE", "sip:U1@C1.D1.H1", {"<sip:" + us() + ";lr>"}, "z9hG4bKgone1"));
      record_route = headers(phone.response(kWait), "Record-Route");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // H1 reads the close
    return record_route;
  }

  TempDir dir_;
  UdpSocket caller_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_P(FlowTest, ACallReachesThePhoneOnItsConnectionAndTheDialogComesBackBothWays) {
  TcpClient phone(server_->port());
  ASSERT_TRUE(phone.connected());
  ASSERT_TRUE(register_phone(phone)) << log();

  // As the caller's family server forwards it: the AOR, a Route to H1.
  caller_.send(server_->port(),
               from_caller("INVITE", "sip:U1@C1.D1.H1", {"<sip:" + us() + ";lr>"}, "z9hG4bKinv"));
  const std::string invite = phone.response(kWait);
  ASSERT_EQ(first_line(invite), "INVITE " + phone_contact() + " SIP/2.0") << invite << log();
  const auto vias = headers(invite, "Via");
  ASSERT_EQ(vias.size(), 2u) << invite;
  EXPECT_EQ(vias[0].rfind("SIP/2.0/TCP " + us() + ";branch=z9hG4bK-hs", 0), 0u) << vias[0];
  EXPECT_TRUE(headers(invite, "Route").empty()) << invite;
  // RFC 5658: the entry facing the phone on top (TCP, plain), then the one
  // facing the caller (UDP), sealed with the phone's flow.
  const auto record_route = headers(invite, "Record-Route");
  ASSERT_EQ(record_route.size(), 2u) << invite;
  EXPECT_EQ(record_route[0], "<sip:" + us() + ";transport=tcp;lr>");
  const std::string sealed =
      "<sip:" + us() + ";lr;hs-flow=tcp:127.0.0.1:" + std::to_string(phone.local_port()) + "~";
  EXPECT_EQ(record_route[1].rfind(sealed, 0), 0u) << record_route[1];

  // The phone answers on its connection; the caller gets it over UDP.
  ASSERT_TRUE(phone.send(response_to(invite, 200, "OK", phone_contact())));
  const std::string ok = caller_.receive(kWait);
  ASSERT_EQ(status_of(ok), 200) << ok << log();
  EXPECT_EQ(headers(ok, "Via").size(), 1u) << ok;
  ASSERT_EQ(headers(ok, "Record-Route"), record_route);

  // The token is the dialog's: with another Call-ID it names no flow, and
  // the request goes to the Contact (nothing listens there), not to the phone.
  caller_.send(server_->port(), from_caller("BYE", phone_contact(), {record_route[1], record_route[0]},
                                            "z9hG4bKother", "phone", "other-call@flow"));
  EXPECT_EQ(phone.response(std::chrono::milliseconds(500)), "");

  // The caller's BYE follows its route set (the Record-Route reversed) to
  // the phone's Contact: H1 sends it on the connection.
  caller_.send(server_->port(), from_caller("BYE", phone_contact(), {record_route[1], record_route[0]},
                                            "z9hG4bKbye", "phone"));
  const std::string bye = phone.response(kWait);
  EXPECT_EQ(first_line(bye), "BYE " + phone_contact() + " SIP/2.0") << bye << log();
  EXPECT_TRUE(headers(bye, "Route").empty()) << bye;

  // The phone's own request in the dialog follows its route set (the
  // Record-Route as it came) to the caller's Contact, over UDP.
  const std::string phone_via =
      "SIP/2.0/TCP 127.0.0.1:" + std::to_string(phone.local_port()) + ";branch=z9hG4bKpb";
  ASSERT_TRUE(phone.send(crlf("INFO sip:U2@127.0.0.1:" + std::to_string(caller_.port()) + " SIP/2.0\nVia: " +
                              phone_via + "\nRoute: " + record_route[0] + "\nRoute: " + record_route[1] +
                              "\nMax-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=phone\n"
                              "To: <sip:U2@C1.D2.H2>;tag=caller\nCall-ID: call@flow\nCSeq: 7 INFO\n"
                              "Content-Length: 0\n\n")));
  const std::string info = caller_.receive(kWait);
  EXPECT_EQ(first_line(info), "INFO sip:U2@127.0.0.1:" + std::to_string(caller_.port()) + " SIP/2.0")
      << info << log();
  EXPECT_TRUE(headers(info, "Route").empty()) << info;
}

// A server looking U1 up for its caller (OPTIONS) is told to go through H1:
// the AOR with a Route to H1 embedded. A call sent to H1 itself is forwarded
// on the flow at once (FlowTest above, and the tree plugin's tests).
TEST_P(FlowTest, TheLookupForAPhoneOnAFlowPointsThroughTheServer) {
  TcpClient phone(server_->port());
  ASSERT_TRUE(register_phone(phone)) << log();
  caller_.send(server_->port(), from_caller("OPTIONS", "sip:U1@C1.D1.H1", {}, "z9hG4bKredir"));
  const std::string moved = caller_.receive(kWait);
  ASSERT_EQ(status_of(moved), 302) << moved << log();
  EXPECT_EQ(headers(moved, "Contact"),
            (std::vector<std::string>{"<sip:U1@C1.D1.H1?Route=%3Csip:" + us() + "%3Blr%3E>;q=1"}))
      << moved;
}

// A token this server did not seal names no connection: the request goes to
// its Request-URI as any other would, never onto the phone's connection.
TEST_P(FlowTest, AForgedTokenReachesNoConnection) {
  TcpClient phone(server_->port());
  ASSERT_TRUE(register_phone(phone)) << log();
  const std::string forged = "<sip:" + us() +
                             ";lr;hs-flow=tcp:127.0.0.1:" + std::to_string(phone.local_port()) +
                             "~00000000000000000000000000000000>";
  caller_.send(server_->port(), from_caller("BYE", phone_contact(), {forged}, "z9hG4bKforged", "phone"));
  EXPECT_EQ(phone.response(std::chrono::milliseconds(700)), "");
}

// A request of a dialog whose flow is gone is 430 Flow Failed: it never
// goes on to its Request-URI (here a phone that would answer there).
TEST_P(FlowTest, ADialogWhoseFlowIsGoneGets430) {
  TcpListener listening_phone;
  const std::string contact = "sip:U1@127.0.0.1:" + std::to_string(listening_phone.port()) + ";transport=tcp";
  const std::vector<std::string> record_route = dialog_whose_flow_is_gone(contact);
  ASSERT_EQ(record_route.size(), 2u) << log();
  caller_.send(server_->port(),
               from_caller("BYE", contact, {record_route[1], record_route[0]}, "z9hG4bKgone2", "phone"));
  const std::string answer = caller_.receive(kWait);
  EXPECT_EQ(first_line(answer), "SIP/2.0 430 Flow Failed") << answer << log();
  EXPECT_FALSE(listening_phone.connected_within(std::chrono::milliseconds(500)));
}

// With two loops a BYE lands on either, by its source port: from every one
// of several senders it is 430, also off the loop that held the connection.
TEST_P(FlowTest, ADialogWhoseFlowIsGoneGets430FromEverySender) {
  const std::vector<std::string> record_route = dialog_whose_flow_is_gone(phone_contact());
  ASSERT_EQ(record_route.size(), 2u) << log();
  const std::string bye =
      from_caller("BYE", phone_contact(), {record_route[1], record_route[0]}, "z9hG4bKgone3", "phone");
  for (int sender = 0; sender < 8; ++sender) {
    UdpSocket socket;  // answered at its own address: the Via's rport is the source's
    socket.send(server_->port(), bye);
    EXPECT_EQ(first_line(socket.receive(kWait)), "SIP/2.0 430 Flow Failed") << "sender " << sender << log();
  }
}

// Sixteen phones or more, each on its own connection (with two loops, until
// both loops hold some), are each called by a sender of its own (landing on
// either loop by its port): every INVITE leaves on its callee's connection,
// and every answer comes back to its caller over UDP.
TEST_P(FlowTest, EveryPhoneIsReachedOnItsConnectionFromEverySender) {
  std::vector<std::unique_ptr<TcpClient>> phones;
  // Beyond the start-up probes, only the phones' REGISTERs reach the loops.
  std::vector<int> before;  // the admin socket may open a moment after the SIP listeners
  ASSERT_TRUE(eventually([&] { return !(before = loop_messages()).empty(); })) << log();
  ASSERT_EQ(static_cast<int>(before.size()), GetParam());
  const auto every_loop_holds_phones = [&] {
    const std::vector<int> messages = loop_messages();
    if (messages.size() != before.size()) return false;
    for (size_t loop = 0; loop < messages.size(); ++loop)
      if (messages[loop] <= before[loop]) return false;
    return true;
  };
  for (int i = 0; i < 64 && (i < 16 || !every_loop_holds_phones()); ++i) {
    phones.push_back(std::make_unique<TcpClient>(server_->port()));
    ASSERT_TRUE(register_phone(*phones[i], phone_contact(), "P" + std::to_string(i))) << i << log();
  }
  ASSERT_TRUE(every_loop_holds_phones()) << log();
  const int kPhones = static_cast<int>(phones.size());
  std::vector<std::unique_ptr<UdpSocket>> callers;
  for (int i = 0; i < kPhones; ++i) {
    callers.push_back(std::make_unique<UdpSocket>());
    const std::string n = std::to_string(i);
    std::string invite = from_caller("INVITE", "sip:P" + n + "@C1.D1.H1", {"<sip:" + us() + ";lr>"},
                                     "z9hG4bKmany" + n, "", "many" + n + "@flow");
    // From this caller's own socket: its Via names it.
    invite.replace(invite.find(std::to_string(caller_.port())), std::to_string(caller_.port()).size(),
                   std::to_string(callers[i]->port()));
    callers[i]->send(server_->port(), invite);
  }
  for (int i = 0; i < kPhones; ++i) {
    const std::string invite = phones[i]->response(kWait);
    ASSERT_EQ(first_line(invite), "INVITE " + phone_contact() + " SIP/2.0") << i << ": " << invite << log();
    EXPECT_EQ(headers(invite, "Call-ID"), std::vector<std::string>{"many" + std::to_string(i) + "@flow"});
    ASSERT_TRUE(phones[i]->send(response_to(invite, 200, "OK", phone_contact())));
  }
  for (int i = 0; i < kPhones; ++i) {
    const std::string ok = callers[i]->receive(kWait);
    EXPECT_EQ(status_of(ok), 200) << i << ": " << ok << log();
    EXPECT_EQ(headers(ok, "Call-ID"), std::vector<std::string>{"many" + std::to_string(i) + "@flow"});
  }
}

// Only this server writes a branch whose responses it relays, and only back
// to where the request came from: a response forged on another connection,
// with our Via copied but the next Via naming the phone's connection, is
// dropped.
TEST_P(FlowTest, AForgedResponseReachesNoOtherConnection) {
  TcpClient phone(server_->port());
  ASSERT_TRUE(register_phone(phone)) << log();
  caller_.send(server_->port(),
               from_caller("INVITE", "sip:U1@C1.D1.H1", {"<sip:" + us() + ";lr>"}, "z9hG4bKfr"));
  const std::string invite = phone.response(kWait);
  const auto vias = headers(invite, "Via");
  ASSERT_EQ(vias.size(), 2u) << invite << log();
  TcpClient attacker(server_->port());
  const std::string port = std::to_string(phone.local_port());
  ASSERT_TRUE(attacker.send(crlf("SIP/2.0 200 OK\nVia: " + vias[0] + "\nVia: SIP/2.0/TCP 127.0.0.1:" + port +
                                 ";received=127.0.0.1;rport=" + port +
                                 ";branch=z9hG4bKcaller\nFrom: <sip:U2@C1.D2.H2>;tag=caller\n"
                                 "To: <sip:U1@C1.D1.H1>;tag=forged\nCall-ID: call@flow\nCSeq: 1 INVITE\n"
                                 "Content-Length: 0\n\n")));
  EXPECT_EQ(phone.response(std::chrono::milliseconds(700)), "");
}

// Where responses go back is where the request came from, whatever its Via
// claims: a received= and rport= naming the phone's connection are replaced,
// and the phone's answer never comes back onto its own connection.
TEST_P(FlowTest, ASenderCannotChooseWhereItsResponsesGo) {
  TcpClient phone(server_->port());
  ASSERT_TRUE(register_phone(phone)) << log();
  std::string invite = from_caller("INVITE", "sip:U1@C1.D1.H1", {"<sip:" + us() + ";lr>"}, "z9hG4bKchoose");
  const std::string forged_via =
      "Via: SIP/2.0/TCP 127.0.0.1:5060;received=127.0.0.1;rport=" + std::to_string(phone.local_port()) +
      ";branch=z9hG4bKchoose\r\n";
  invite.replace(invite.find("Via: "), invite.find("\r\n", invite.find("Via: ")) + 2 - invite.find("Via: "),
                 forged_via);
  caller_.send(server_->port(), invite);
  const std::string forwarded = phone.response(kWait);
  const auto vias = headers(forwarded, "Via");
  ASSERT_EQ(vias.size(), 2u) << forwarded << log();
  EXPECT_NE(vias[1].find(";rport=" + std::to_string(caller_.port())), std::string::npos) << vias[1];
  EXPECT_EQ(vias[1].find(";rport=" + std::to_string(phone.local_port())), std::string::npos) << vias[1];
  ASSERT_TRUE(phone.send(response_to(forwarded, 200, "OK", phone_contact())));
  EXPECT_EQ(phone.response(std::chrono::milliseconds(700)), "");
}

// The phone's connection closed: a new call goes to the Contact it
// registered, as to any phone (one that listens there is still reached).
TEST_P(FlowTest, AFlowGoneLeavesTheContact) {
  TcpListener listening_phone;
  const std::string contact = "sip:U1@127.0.0.1:" + std::to_string(listening_phone.port()) + ";transport=tcp";
  {
    TcpClient phone(server_->port());
    ASSERT_TRUE(register_phone(phone, contact)) << log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // H1 reads the close
  caller_.send(server_->port(),
               from_caller("INVITE", "sip:U1@C1.D1.H1", {"<sip:" + us() + ";lr>"}, "z9hG4bKgone"));
  EXPECT_TRUE(listening_phone.connected_within(kWait)) << log();
}

// Registered over TCP with a Contact over UDP: the phone listens there, and
// is reached there as any phone (the paper's redirect: a 302 to it).
TEST_P(FlowTest, AContactOverUdpIsNoFlow) {
  UdpSocket listening_phone;
  const std::string contact = "sip:U1@127.0.0.1:" + std::to_string(listening_phone.port());
  TcpClient phone(server_->port());
  ASSERT_TRUE(register_phone(phone, contact)) << log();
  caller_.send(server_->port(), from_caller("INVITE", "sip:U1@C1.D1.H1", {}, "z9hG4bKudp"));
  const std::string moved = caller_.receive(kWait);
  EXPECT_EQ(status_of(moved), 302) << moved << log();
  EXPECT_EQ(headers(moved, "Contact"), (std::vector<std::string>{"<" + contact + ">;q=1"})) << moved;
  EXPECT_EQ(phone.response(std::chrono::milliseconds(300)), "");
}

INSTANTIATE_TEST_SUITE_P(Loops, FlowTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 1 ? std::string("OneLoop") : std::string("TwoLoops");
                         });

}  // namespace
