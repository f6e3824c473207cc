// mqtt-bridge end to end: a real mosquitto on a free port, a zigbee2mqtt lamp
// simulated with mosquitto_sub/mosquitto_pub (device_sim.sh), a tree C1 -> D1
// -> H1 with passwords and the policy, H1 loading appliance-hub and
// mqtt-bridge; homesip-ua control/state/watch from the top server.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

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

// A mosquitto broker on 127.0.0.1:port, started and stopped by PID.
class Broker {
 public:
  Broker(const TempDir& dir, uint16_t port) : dir_(dir), port_(port) {
    write_file(dir_ / "mosquitto.conf",
               "listener " + std::to_string(port) + " 127.0.0.1\nallow_anonymous true\npersistence false\n");
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
  static constexpr const char* kD1 = "d1 at the province";
  static constexpr const char* kH1 = "h1 at the community";
  static constexpr const char* kU3 = "u3 member";
  static constexpr const char* kU4 = "u4 guest";
};

class BridgeTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<Broker>(dir_, free_port());
    broker_->start();
    start_device();
    province_ = make("C1", "", "");
    province_->start();
    top_ = "sip:127.0.0.1:" + std::to_string(province_->port());
    ASSERT_EQ(add_user("C1", "D1@C1", "server", Passwords::kD1), 0);
    community_ = make("D1", "C1", top_, password_file("d1.password", Passwords::kD1));
    community_->start();
    ASSERT_EQ(add_user("D1", "H1@C1.D1", "server", Passwords::kH1), 0);
    family_ = make("H1", "C1.D1", top_, password_file("h1.password", Passwords::kH1),
                   "  - plugin: appliance-hub\n"
                   "  - plugin: mqtt-bridge\n    port: " +
                       std::to_string(broker_->port()) + "\n    base_topic: " + kBase +
                       "\n    client_id: homesip-h1\n    reconnect_min_s: 1\n    reconnect_max_s: 2\n"
                       "    answer_timeout_ms: 2000\n    devices:\n"
                       "      - \"kitchen_lamp light.kitchen name='Kitchen light'\"\n");
    family_->start();
    ASSERT_EQ(add_user("H1", "U3@C1.D1.H1", "member", Passwords::kU3), 0);
    ASSERT_EQ(add_user("H1", "U4@C1.D1.H1", "guest", Passwords::kU4), 0);
    ASSERT_TRUE(
        eventually([&] { return child_online("C1", "D1@C1") && child_online("D1", "H1@C1.D1"); }, 30s))
        << read_file(community_->log()) << read_file(family_->log());
    ASSERT_TRUE(
        eventually([&] { return count_of(read_file(family_->log()), "connected to MQTT broker") == 1; }, 10s))
        << read_file(family_->log());
  }

  // The lamp: ready once its mosquitto_sub has subscribed.
  void start_device() {
    device_ = std::make_unique<Process>(
        std::vector<std::string>{std::string(MQTT_TEST_DIR) + "/device_sim.sh",
                                 std::to_string(broker_->port()), kLampTopic, device_log().string()},
        dir_ / "device.out");
    ASSERT_TRUE(eventually([&] { return device_says().find("ready") != std::string::npos; }, 10s))
        << read_file(dir_ / "device.out");
  }
  std::filesystem::path device_log() const { return dir_ / "device.log"; }
  std::string device_says() const {
    return std::filesystem::exists(device_log()) ? read_file(device_log()) : "";
  }

  // The device's own change, as zigbee2mqtt publishes it.
  int device_reports(const std::string& state) {
    return run({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->port()), "-t", kLampTopic,
                "-m", state});
  }

  std::vector<std::string> ua_args(const std::vector<std::string>& command, const std::string& user,
                                   const std::string& password) {
    std::vector<std::string> argv{ua_path()};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.insert(argv.end(), {"--server", top_});
    if (!user.empty())
      argv.insert(argv.end(), {"--user", user, "--password-file", password_file(user + ".ua.pw", password)});
    return argv;
  }
  int ua(const std::vector<std::string>& command, std::string* out, const std::string& user = "U3@C1.D1.H1",
         const std::string& password = Passwords::kU3) {
    return run(ua_args(command, user, password), out, 40s);
  }

  std::unique_ptr<HomesipServer> make(const std::string& name, const std::string& domain,
                                      const std::string& top, const std::string& password = "",
                                      const std::string& more = "") {
    std::string tree_settings = "    keepalive_interval: 1\n    keepalive_misses: 2\n";
    if (!password.empty()) tree_settings += "    password_file: " + password + "\n";
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / (name + ".sqlite")).string() + "\n" +
        tree_plugin_yaml(name, domain, top, tree_settings) +
        "  - plugin: auth-digest\n    secret_file: " + (dir_ / (name + ".secret")).string() +
        "\n  - plugin: policy\n  - plugin: registrar\n" + more;
    return std::make_unique<HomesipServer>(
        dir_, ServerOptions{name, domain, plugins, "  admin_socket: " + socket_of(name) + "\n"});
  }
  std::string socket_of(const std::string& name) const { return (dir_ / (name + ".sock")).string(); }
  std::string password_file(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    write_file(path, text + "\n");
    std::filesystem::permissions(path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path.string();
  }
  int ctl(const std::string& server, const std::vector<std::string>& arguments, std::string* out) {
    std::vector<std::string> argv{MQTT_TEST_HOMESIPCTL, "--socket", socket_of(server)};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, out, 10s);
  }
  int add_user(const std::string& server, const std::string& aor, const std::string& role,
               const std::string& password) {
    std::string out;
    const int status = ctl(
        server, {"user", "add", aor, "--role", role, "--password-file", password_file(aor + ".pw", password)},
        &out);
    EXPECT_EQ(status, 0) << out;
    return status;
  }
  bool child_online(const std::string& parent, const std::string& aor) {
    std::string out;
    if (ctl(parent, {"--json", "tree"}, &out) != 0) return false;
    const json tree = json::parse(out, nullptr, false);
    if (!tree.is_object() || !tree.contains("children")) return false;
    for (const auto& child : tree["children"])
      if (child.value("aor", "") == aor) return child.value("online", false);
    return false;
  }

  TempDir dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Process> device_;
  std::unique_ptr<HomesipServer> province_, community_, family_;
  std::string top_;
};

TEST_F(BridgeTreeTest, ControlFromTheTopSwitchesTheDevice) {
  std::string out;
  ASSERT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness=200"}, &out), 0)
      << out << read_file(province_->log()) << read_file(family_->log());
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

TEST_F(BridgeTreeTest, TheDevicesOwnChangeReachesAWatcher) {
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
  EXPECT_NE(watched().find("stopping (signal)"), std::string::npos) << watched();
}

TEST_F(BridgeTreeTest, AWatcherSubscribesAgainWhenTheFamilyServerRestarts) {
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

TEST_F(BridgeTreeTest, TheBrokerGoingAwayAndBackIsSurvived) {
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

TEST_F(BridgeTreeTest, AnUnauthorisedUserIsRefusedAndTheDeviceHearsNothing) {
  std::string out;
  EXPECT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on"}, &out, "U4@C1.D1.H1", Passwords::kU4), 2)
      << out;
  EXPECT_NE(out.find(": 403 "), std::string::npos) << out;
  // Nobody at all: no password to answer the challenge with.
  EXPECT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on"}, &out, "", ""), 2) << out;
  std::this_thread::sleep_for(500ms);  // a /set would have reached the device by now
  EXPECT_EQ(count_of(device_says(), "set "), 0u) << device_says();
}

}  // namespace
