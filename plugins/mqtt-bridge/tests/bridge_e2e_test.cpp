// mqtt-bridge end to end: a real mosquitto on a free port, a zigbee2mqtt lamp
// simulated with mosquitto_sub/mosquitto_pub (device_sim.sh), a tree C1 -> D1
// -> H1 with passwords and the policy, H1 loading appliance-hub and
// mqtt-bridge; homesip-ua control/state/watch from the top server. Then a
// broker that wants a password (mosquitto_passwd) or TLS (a CA and the
// broker's certificate made with openssl), with one family server: the right
// password or CA connects, a wrong one leaves the entities unavailable.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "secured_tree.hpp"
#include "test_support.hpp"

using namespace homesip::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kBase = "z2m-test";
constexpr const char* kLampTopic = "z2m-test/kitchen_lamp";

std::string ua_path() {
  return (std::filesystem::path(homesipd_path()).parent_path() / "homesip-ua").string();
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// A mosquitto broker on 127.0.0.1:port, started and stopped by PID;
// `listener_settings` go under its listener line (who may connect, TLS).
class Broker {
 public:
  Broker(const TempDir& dir, uint16_t port, const std::string& listener_settings = "allow_anonymous true\n")
      : dir_(dir), port_(port) {
    // As root, mosquitto would switch to its own user, who may not read the
    // test's directory (password file, certificates): it stays who we are.
    write_file(dir_ / "mosquitto.conf", "user root\npersistence false\nlistener " + std::to_string(port) +
                                            " 127.0.0.1\n" + listener_settings);
  }
  void start() {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"mosquitto", "-c", (dir_ / "mosquitto.conf").string()},
        dir_ / "mosquitto.log");
    ASSERT_TRUE(eventually([&] { return TcpClient(port_).connected(); }, 10s))
        << read_file(dir_ / "mosquitto.log");
  }
  void stop() {
    process_->stop();
    process_.reset();
  }
  uint16_t port() const { return port_; }

 private:
  const TempDir& dir_;
  uint16_t port_;
  std::unique_ptr<Process> process_;
};

struct Passwords {
  static constexpr const char* kU3 = "u3 member";
  static constexpr const char* kU4 = "u4 guest";
};

// The broker and the simulated lamp on it; `client_options_` are what
// mosquitto_sub/mosquitto_pub need to connect (credentials, TLS).
class BrokerTest : public ::testing::Test {
 protected:
  // SIGTERM, not the SIGKILL of Process's destructor: device_sim.sh then stops
  // its mosquitto_sub, which would otherwise reconnect for ever as an orphan.
  ~BrokerTest() override {
    if (device_) device_->stop(std::chrono::seconds(5));
  }
  void start_broker(const std::string& listener_settings = "allow_anonymous true\n") {
    broker_ = std::make_unique<Broker>(dir_, free_port(), listener_settings);
    broker_->start();
  }

  // The lamp: ready once its mosquitto_sub has subscribed.
  void start_device() {
    std::vector<std::string> argv{std::string(MQTT_TEST_DIR) + "/device_sim.sh",
                                  std::to_string(broker_->port()), kLampTopic, device_log().string()};
    argv.insert(argv.end(), client_options_.begin(), client_options_.end());
    device_ = std::make_unique<Process>(argv, dir_ / "device.out");
    ASSERT_TRUE(eventually([&] { return device_says().find("ready") != std::string::npos; }, 10s))
        << read_file(dir_ / "device.out");
  }
  std::filesystem::path device_log() const { return dir_ / "device.log"; }
  // mosquitto logs "New connection from" for every TCP connection it accepts.
  std::string broker_log() const { return read_file(dir_ / "mosquitto.log"); }
  size_t broker_connections() const { return count_of(broker_log(), "New connection from"); }
  std::string device_says() const {
    return std::filesystem::exists(device_log()) ? read_file(device_log()) : "";
  }

  // The device's own change, as zigbee2mqtt publishes it.
  int device_reports(const std::string& state) {
    std::vector<std::string> argv{"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->port())};
    argv.insert(argv.end(), client_options_.begin(), client_options_.end());
    argv.insert(argv.end(), {"-t", kLampTopic, "-m", state});
    return run(argv);
  }

  TempDir dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Process> device_;
  std::vector<std::string> client_options_;
};

// The family server with one loop and with two (server.loops: each homesip-ua
// run sends from a port of its own, which the kernel gives to either loop).
class BridgeTreeTest : public BrokerTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(start_broker());
    ASSERT_NO_FATAL_FAILURE(start_device());
    ASSERT_NO_FATAL_FAILURE(
        tree_.start("  - plugin: appliance-hub\n"
                    "  - plugin: mqtt-bridge\n    port: " +
                        std::to_string(broker_->port()) + "\n    base_topic: " + kBase +
                        "\n    client_id: homesip-h1\n    reconnect_min_s: 1\n    reconnect_max_s: 2\n"
                        "    answer_timeout_ms: 2000\n    devices:\n"
                        "      - \"kitchen_lamp light.kitchen name='Kitchen light'\"\n",
                    {"--set", "server.loops=" + std::to_string(GetParam())}));
    family_ = tree_.family.get();
    ASSERT_EQ(tree_.add_user("H1", "U3@C1.D1.H1", "member", Passwords::kU3), 0);
    ASSERT_EQ(tree_.add_user("H1", "U4@C1.D1.H1", "guest", Passwords::kU4), 0);
    ASSERT_TRUE(
        eventually([&] { return count_of(read_file(family_->log()), "connected to MQTT broker") == 1; }, 10s))
        << read_file(family_->log());
  }

  std::vector<std::string> ua_args(const std::vector<std::string>& command, const std::string& user,
                                   const std::string& password) {
    std::vector<std::string> argv{ua_path()};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.insert(argv.end(), {"--server", tree_.top()});
    if (!user.empty())
      argv.insert(argv.end(),
                  {"--user", user, "--password-file", tree_.password_file(user + ".ua.pw", password)});
    return argv;
  }
  int ua(const std::vector<std::string>& command, std::string* out, const std::string& user = "U3@C1.D1.H1",
         const std::string& password = Passwords::kU3) {
    return run(ua_args(command, user, password), out, 40s);
  }

  int ctl(const std::string& server, const std::vector<std::string>& arguments, std::string* out) {
    return tree_.ctl(server, arguments, out);
  }

  SecuredTree tree_{dir_, MQTT_TEST_HOMESIPCTL};
  HomesipServer* family_ = nullptr;  // the tree's H1, with the hub and the bridge
};

TEST_P(BridgeTreeTest, ControlFromTheTopSwitchesTheDevice) {
  std::string out;
  ASSERT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness=200"}, &out), 0)
      << out << read_file(tree_.province->log()) << read_file(family_->log());
  // Down the tree by 302s, challenged at the family server, then served there.
  EXPECT_NE(out.find(": 302 Moved Temporarily -> sip:D1@"), std::string::npos) << out;
  EXPECT_NE(out.find(": 302 Moved Temporarily -> sip:H1@"), std::string::npos) << out;
  EXPECT_NE(out.find("\nlight.kitchen on {\"brightness\":200}\n"), std::string::npos) << out;
  EXPECT_NE(device_says().find("set {\"brightness\":200,\"state\":\"ON\"}\n"), std::string::npos)
      << device_says();

  ASSERT_EQ(ua({"state", "light.kitchen@C1.D1.H1", "--json"}, &out), 0) << out;
  const json state = json::parse(out.substr(out.rfind("{\"attributes\"")), nullptr, false);
  EXPECT_EQ(state["state"], "on") << out;
  EXPECT_EQ(state["attributes"], (json{{"brightness", 200}, {"friendly_name", "Kitchen light"}})) << out;

  // The service's data is checked before anything goes to the device.
  ASSERT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness=900"}, &out), 2) << out;
  EXPECT_NE(out.find("\"error\":\"invalid_data\""), std::string::npos) << out;
  EXPECT_EQ(count_of(device_says(), "set "), 1u) << device_says();
}

TEST_P(BridgeTreeTest, TheDevicesOwnChangeReachesAWatcher) {
  Process watch(ua_args({"watch", "light.kitchen@C1.D1.H1"}, "U3@C1.D1.H1", Passwords::kU3),
                dir_ / "watch.out");
  const auto watched = [&] { return read_file(dir_ / "watch.out"); };
  ASSERT_TRUE(eventually(
      [&] { return watched().find("watching sip:light.kitchen@C1.D1.H1") != std::string::npos; }, 15s))
      << watched() << read_file(family_->log());
  // The first NOTIFY: the state before the device said anything.
  ASSERT_TRUE(
      eventually([&] { return watched().find("\nlight.kitchen unknown {}\n") != std::string::npos; }, 3s))
      << watched();
  ASSERT_EQ(device_reports(R"({"state":"ON","brightness":50,"linkquality":80})"), 0);
  EXPECT_TRUE(eventually(
      [&] { return watched().find("\nlight.kitchen on {\"brightness\":50}\n") != std::string::npos; }, 3s))
      << watched();
  // The same state with another link quality is no change: no NOTIFY for it.
  ASSERT_EQ(device_reports(R"({"state":"OFF","brightness":50,"linkquality":60})"), 0);
  EXPECT_TRUE(eventually(
      [&] { return watched().find("\nlight.kitchen off {\"brightness\":50}\n") != std::string::npos; }, 3s))
      << watched();
  EXPECT_EQ(count_of(watched(), "\nlight.kitchen on "), 1u) << watched();

  watch.signal(SIGTERM);
  EXPECT_EQ(watch.wait(10s), 0) << watched();
  const std::string out = watched();
  const size_t stopping = out.find("stopping (signal)");
  ASSERT_NE(stopping, std::string::npos) << out;
  // The unsubscribe goes to the dialog's target; its challenge is answered
  // for that Request-URI (not the first hop's: 400 Digest URI Mismatch).
  EXPECT_NE(out.find("SUBSCRIBE sip:light.kitchen@C1.D1.H1 -> ", stopping), std::string::npos) << out;
  EXPECT_NE(out.find(": 200 OK", stopping), std::string::npos) << out;
  EXPECT_EQ(out.find("Digest URI Mismatch"), std::string::npos) << out;
}

TEST_P(BridgeTreeTest, AWatcherSubscribesAgainWhenTheFamilyServerRestarts) {
  Process watch(ua_args({"watch", "light.kitchen@C1.D1.H1"}, "U3@C1.D1.H1", Passwords::kU3),
                dir_ / "watch.out");
  const auto watched = [&] { return read_file(dir_ / "watch.out"); };
  ASSERT_TRUE(
      eventually([&] { return watched().find("\nlight.kitchen unknown {}\n") != std::string::npos; }, 15s))
      << watched() << read_file(family_->log());
  // RFC 6665 4.1.3: the hub's stop() ends every subscription with reason=deactivated (the
  // bridge, stopped first, leaves its entities to the hub until it is destroyed).
  ASSERT_EQ(family_->stop(), 0);
  ASSERT_TRUE(eventually([&] { return watched().find("(reason=deactivated)") != std::string::npos; }, 5s))
      << watched();
  family_->start();
  ASSERT_TRUE(
      eventually([&] { return count_of(watched(), "watching sip:light.kitchen@C1.D1.H1") == 2; }, 20s))
      << watched() << read_file(family_->log());
  ASSERT_EQ(device_reports(R"({"state":"ON","brightness":7})"), 0);
  EXPECT_TRUE(eventually(
      [&] { return watched().find("\nlight.kitchen on {\"brightness\":7}\n") != std::string::npos; }, 3s))
      << watched();
  watch.signal(SIGTERM);
  EXPECT_EQ(watch.wait(10s), 0) << watched();
}

TEST_P(BridgeTreeTest, TheBrokerGoingAwayAndBackIsSurvived) {
  std::string out;
  ASSERT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_off"}, &out), 0) << out;
  EXPECT_NE(out.find("\nlight.kitchen off {}\n"), std::string::npos) << out;

  broker_->stop();
  ASSERT_TRUE(eventually(
      [&] {
        return ua({"state", "light.kitchen@C1.D1.H1"}, &out) == 0 &&
               out.find("\nlight.kitchen unavailable {}\n") != std::string::npos;
      },
      10s))
      << out << read_file(family_->log());
  // A call meanwhile: 503, unreachable.
  EXPECT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on"}, &out), 3) << out;
  EXPECT_NE(out.find("\"error\":\"unavailable\""), std::string::npos) << out;
  std::this_thread::sleep_for(3s);  // several reconnect attempts (1..2 s apart), one warn line for all

  broker_->start();
  ASSERT_TRUE(eventually([&] { return count_of(read_file(family_->log()), "is back") == 1; }, 10s))
      << read_file(family_->log());
  ASSERT_TRUE(eventually([&] { return count_of(device_says(), "ready") >= 2; }, 10s))
      << read_file(dir_ / "device.out");
  ASSERT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness=10"}, &out), 0)
      << out << read_file(family_->log());
  EXPECT_NE(out.find("\nlight.kitchen on {\"brightness\":10}\n"), std::string::npos) << out;
  const std::string log = read_file(family_->log());
  EXPECT_EQ(count_of(log, "connection lost"), 1u) << log;
  EXPECT_EQ(count_of(log, "cannot connect"), 0u) << log;  // the failed attempts said nothing more
  std::string stats;
  ASSERT_EQ(ctl("H1", {"stats"}, &stats), 0) << stats;
  EXPECT_NE(stats.find("\n  homesip_mqtt_bridge_reconnects_total: 1\n"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\n  homesip_mqtt_bridge_connected: 1\n"), std::string::npos) << stats;
}

TEST_P(BridgeTreeTest, AnUnauthorisedUserIsRefusedAndTheDeviceHearsNothing) {
  std::string out;
  EXPECT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on"}, &out, "U4@C1.D1.H1", Passwords::kU4), 2)
      << out;
  EXPECT_NE(out.find(": 403 "), std::string::npos) << out;
  // Nobody at all: no password to answer the challenge with.
  EXPECT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on"}, &out, "", ""), 2) << out;
  std::this_thread::sleep_for(500ms);  // a /set would have reached the device by now
  EXPECT_EQ(count_of(device_says(), "set "), 0u) << device_says();
}

// ---- a broker that wants a password or TLS, and one family server (no tree) ----

constexpr const char* kBridgeUser = "homesip";
constexpr const char* kBridgePassword = "bridge secret";

// The bridge's warn lines about the broker: one per change of condition, not per attempt.
size_t broker_warnings(const std::string& log) { return count_of(log, "its entities unavailable meanwhile"); }

INSTANTIATE_TEST_SUITE_P(Loops, BridgeTreeTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 1 ? std::string("OneLoop")
                                                  : std::to_string(info.param) + "Loops";
                         });

class SecuredBrokerTest : public BrokerTest {
 protected:
  // mosquitto_passwd's file: the bridge's account and the lamp's.
  std::string broker_password_file() {
    const std::string path = (dir_ / "mosquitto.passwd").string();
    EXPECT_EQ(run({"mosquitto_passwd", "-b", "-c", path, kBridgeUser, kBridgePassword}), 0);
    EXPECT_EQ(run({"mosquitto_passwd", "-b", path, "lamp", "lamp secret"}), 0);
    return path;
  }
  std::string password_listener() {
    return "allow_anonymous false\npassword_file " + broker_password_file() + "\n";
  }

  // A CA named `ca` (ca.pem, ca.key) made with openssl; with `server`, the
  // broker's key and certificate for 127.0.0.1 signed by it (server.pem, server.key).
  void make_ca(const std::string& ca) {
    ASSERT_EQ(
        run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=" + ca, "-keyout", file(ca + ".key"), "-out", file(ca + ".pem")}),
        0);
  }
  void make_server_certificate(const std::string& ca) {
    write_file(dir_ / "server.ext", "subjectAltName=IP:127.0.0.1\n");
    ASSERT_EQ(run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-subj", "/CN=127.0.0.1", "-keyout", file("server.key"), "-out", file("server.csr")}),
              0);
    ASSERT_EQ(run({"openssl", "x509", "-req", "-in", file("server.csr"), "-CA", file(ca + ".pem"), "-CAkey",
                   file(ca + ".key"), "-CAcreateserial", "-days", "2", "-extfile", file("server.ext"), "-out",
                   file("server.pem")}),
              0);
  }
  std::string tls_listener() {
    return "allow_anonymous true\ncafile " + file("ca.pem") + "\ncertfile " + file("server.pem") +
           "\nkeyfile " + file("server.key") + "\n";
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  // The family server: the hub for C1.D1.H1 and the bridge with `broker_settings`.
  void start_family(const std::string& broker_settings) {
    const std::string plugins =
        "  - plugin: appliance-hub\n    domain: C1.D1.H1\n"
        "  - plugin: mqtt-bridge\n    port: " +
        std::to_string(broker_->port()) + "\n    base_topic: " + kBase +
        "\n    client_id: homesip-h1\n    reconnect_min_s: 1\n    reconnect_max_s: 2\n"
        "    answer_timeout_ms: 2000\n" +
        broker_settings + "    devices:\n      - \"kitchen_lamp light.kitchen name='Kitchen light'\"\n";
    family_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", plugins, "  admin_socket: " + file("h1.sock") + "\n"});
    family_->start();
  }
  std::string bridge_password_file(const std::string& password) {
    const std::string path = file("bridge.password");
    write_file(path, password + "\n");
    std::filesystem::permissions(path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path;
  }
  std::string family_log() const { return read_file(family_->log()); }

  // A MESSAGE calling `service` on the lamp, straight to the family server: its final response.
  std::string call(const std::string& call_id, const std::string& service) {
    const std::string body = "{\"service\": \"" + service + "\"}";
    return udp_exchange(family_->port(),
                        "MESSAGE sip:light.kitchen@C1.D1.H1 SIP/2.0\n"
                        "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bK-" +
                            call_id + "\nMax-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=" + call_id +
                            "\nTo: <sip:light.kitchen@C1.D1.H1>\nCall-ID: " + call_id +
                            "@bridge-test\nCSeq: 1 MESSAGE\nContent-Type: application/json\n"
                            "Content-Length: " +
                            std::to_string(body.size()) + "\n\n" + body,
                        5s);
  }
  // The lamp's state as `homesipctl entities` shows it ("" when not listed).
  std::string lamp_state() {
    std::string out;
    if (run({MQTT_TEST_HOMESIPCTL, "--socket", file("h1.sock"), "--json", "entities"}, &out, 10s) != 0)
      return "";
    const json rows = json::parse(out, nullptr, false);
    if (rows.is_array())
      for (const json& row : rows)
        if (row.value("entity_id", "") == "light.kitchen") return row.value("state", "");
    return "";
  }
  bool connected() { return count_of(family_log(), "connected to MQTT broker") == 1; }

  std::unique_ptr<HomesipServer> family_;
};

std::string body_of(const std::string& response) {
  const size_t blank = response.find("\r\n\r\n");
  return blank == std::string::npos ? "" : response.substr(blank + 4);
}

TEST_F(SecuredBrokerTest, WithItsPasswordTheBridgeConnectsAndSwitchesTheDevice) {
  ASSERT_NO_FATAL_FAILURE(start_broker(password_listener()));
  client_options_ = {"-u", "lamp", "-P", "lamp secret"};
  ASSERT_NO_FATAL_FAILURE(start_device());
  start_family("    username: " + std::string(kBridgeUser) +
               "\n    password_file: " + bridge_password_file(kBridgePassword) + "\n");
  ASSERT_TRUE(eventually([&] { return connected(); }, 10s)) << family_log();

  const std::string on = call("pw-on", "turn_on");
  ASSERT_EQ(status_of(on), 200) << on << family_log();
  EXPECT_EQ(json::parse(body_of(on), nullptr, false)["state"], "on") << on;
  EXPECT_NE(device_says().find("set {\"state\":\"ON\"}\n"), std::string::npos) << device_says();
  EXPECT_EQ(lamp_state(), "on");
  EXPECT_EQ(broker_warnings(family_log()), 0u) << family_log();
}

TEST_F(SecuredBrokerTest, WithAWrongPasswordTheEntitiesAreUnavailableAndOneLineSaysWhy) {
  ASSERT_NO_FATAL_FAILURE(start_broker(password_listener()));
  client_options_ = {"-u", "lamp", "-P", "lamp secret"};
  ASSERT_NO_FATAL_FAILURE(start_device());
  start_family("    username: " + std::string(kBridgeUser) +
               "\n    password_file: " + bridge_password_file("not the password") + "\n");
  ASSERT_TRUE(eventually([&] { return broker_warnings(family_log()) >= 1; }, 10s)) << family_log();
  const size_t connections = broker_connections();
  std::this_thread::sleep_for(4s);  // several attempts (1..2 s apart), each refused the same way
  EXPECT_GE(broker_connections(), connections + 1) << "the bridge tries again\n" << broker_log();
  const std::string log = family_log();
  EXPECT_EQ(broker_warnings(log), 1u) << log;
  EXPECT_NE(log.find("refused the connection (Connection Refused: not authorised.)"), std::string::npos)
      << log;
  EXPECT_EQ(count_of(log, "connected to MQTT broker"), 0u) << log;
  EXPECT_EQ(lamp_state(), "unavailable");

  const std::string on = call("pw-wrong", "turn_on");
  EXPECT_EQ(status_of(on), 503) << on;
  EXPECT_EQ(json::parse(body_of(on), nullptr, false)["error"], "unavailable") << on;
  EXPECT_EQ(count_of(device_says(), "set "), 0u) << device_says();
}

TEST_F(SecuredBrokerTest, OverTlsWithTheBrokersCaTheBridgeConnectsAndAStateChangeArrives) {
  ASSERT_NO_FATAL_FAILURE(make_ca("ca"));
  ASSERT_NO_FATAL_FAILURE(make_server_certificate("ca"));
  ASSERT_NO_FATAL_FAILURE(start_broker(tls_listener()));
  client_options_ = {"--cafile", file("ca.pem")};
  ASSERT_NO_FATAL_FAILURE(start_device());
  start_family("    tls_cafile: " + file("ca.pem") + "\n");
  ASSERT_TRUE(eventually([&] { return connected(); }, 10s)) << family_log();
  ASSERT_TRUE(eventually([&] { return lamp_state() == "unknown"; }, 3s)) << lamp_state();

  ASSERT_EQ(device_reports(R"({"state":"ON","brightness":50})"), 0);
  EXPECT_TRUE(eventually([&] { return lamp_state() == "on"; }, 3s)) << lamp_state() << family_log();
  const std::string off = call("tls-off", "turn_off");
  ASSERT_EQ(status_of(off), 200) << off << family_log();
  EXPECT_EQ(json::parse(body_of(off), nullptr, false)["state"], "off") << off;
  EXPECT_NE(device_says().find("set {\"state\":\"OFF\"}\n"), std::string::npos) << device_says();
  EXPECT_EQ(broker_warnings(family_log()), 0u) << family_log();
}

TEST_F(SecuredBrokerTest, OverTlsWithAnotherCaTheBridgeDoesNotConnect) {
  ASSERT_NO_FATAL_FAILURE(make_ca("ca"));
  ASSERT_NO_FATAL_FAILURE(make_server_certificate("ca"));
  ASSERT_NO_FATAL_FAILURE(make_ca("other"));
  ASSERT_NO_FATAL_FAILURE(start_broker(tls_listener()));
  client_options_ = {"--cafile", file("ca.pem")};
  ASSERT_NO_FATAL_FAILURE(start_device());
  start_family("    tls_cafile: " + file("other.pem") + "\n");
  ASSERT_TRUE(eventually([&] { return broker_warnings(family_log()) >= 1; }, 10s)) << family_log();
  const size_t connections = broker_connections();
  std::this_thread::sleep_for(3s);  // attempts go on, silently
  // libmosquitto's thread ends on a failed handshake: only the bridge's own timer connects again.
  EXPECT_GE(broker_connections(), connections + 1) << "the bridge tries again\n" << broker_log();
  const std::string log = family_log();
  EXPECT_EQ(broker_warnings(log), 1u) << log;
  EXPECT_NE(log.find("cannot connect (TLS: "), std::string::npos) << log;
  EXPECT_NE(log.find("certificate verify failed)"), std::string::npos) << log;
  EXPECT_EQ(count_of(log, "connected to MQTT broker"), 0u) << log;
  ASSERT_EQ(device_reports(R"({"state":"ON"})"), 0);  // the broker takes it; the bridge never hears it
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(lamp_state(), "unavailable");
}

}  // namespace
