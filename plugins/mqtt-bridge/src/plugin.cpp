// mqtt-bridge: devices of an MQTT broker with zigbee2mqtt's topics as
// entities of the appliance hub (README.md beside src/ has the config, the
// topics and the mapping). libmosquitto's network thread only posts to the
// main loop; every state, call and timer lives there.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <homesip/homesip.hpp>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device_map.hpp"
#include "mqtt_connection.hpp"

namespace {

using homesip::mqtt::DeviceSpec;

const homesip::SettingSpec kSettings[] = {
    {"host", homesip::SettingType::kString, "127.0.0.1", "the MQTT broker's host name or address"},
    {"port", homesip::SettingType::kInteger, "1883", "the broker's port (8883 is usual with TLS)"},
    {"base_topic", homesip::SettingType::kString, "zigbee2mqtt", "zigbee2mqtt's base topic"},
    {"client_id", homesip::SettingType::kString, "", "MQTT client id; empty: one the library makes up"},
    {"username", homesip::SettingType::kString, "", "MQTT user name; empty: anonymous"},
    {"password_file", homesip::SettingType::kString, "",
     "file whose first line is the MQTT password (mode 0600; needs username)"},
    {"tls_cafile", homesip::SettingType::kString, "",
     "CA file (PEM) of the broker's certificate: turns TLS on"},
    {"tls_certfile", homesip::SettingType::kString, "", "our client certificate (PEM), with tls_keyfile"},
    {"tls_keyfile", homesip::SettingType::kString, "", "our client key (PEM), with tls_certfile"},
    {"keepalive_s", homesip::SettingType::kInteger, "30", "MQTT keepalive in seconds (5..3600)"},
    {"reconnect_min_s", homesip::SettingType::kInteger, "1", "first wait before reconnecting (1..3600)"},
    {"reconnect_max_s", homesip::SettingType::kInteger, "30",
     "longest wait between attempts; doubling from reconnect_min_s (1..3600)"},
    {"answer_timeout_ms", homesip::SettingType::kInteger, "3000",
     "how long a service call waits for the device's next state message (100..30000)"},
    {"devices", homesip::SettingType::kStringList, "[]",
     "zigbee2mqtt devices as entities: \"DEVICE ENTITY_ID [name='..'] [key=..] [unit=..] [invert=..]\""},
};
const char* const kRequires[] = {homesip::ApplianceHub::kServiceName};
const homesip::MetricSpec kMetrics[] = {
    {"connected", homesip::MetricType::kGauge, "1 while connected to the broker"},
    {"messages_in_total", homesip::MetricType::kCounter, "MQTT messages received on the devices' topics"},
    {"commands_total", homesip::MetricType::kCounter, "/set commands published"},
    {"reconnects_total", homesip::MetricType::kCounter, "connections made again after a loss"},
};

constexpr int kMaxPendingPerDevice = 16;

// The first line of a file only its owner may read (as the ua's --password-file).
std::string read_password(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode))
    throw homesip::ConfigError("password_file", "password_file: no file '" + path + "'");
  if (status.st_mode & (S_IRWXG | S_IRWXO))
    throw homesip::ConfigError("password_file",
                               "password_file " + path + " is open to others: chmod 600 " + path);
  std::ifstream file(path);
  std::string password;
  if (!file || !std::getline(file, password) || password.empty())
    throw homesip::ConfigError("password_file", "password_file " + path + ": cannot read its first line");
  if (password.back() == '\r') password.pop_back();
  return password;
}

void check_readable(const homesip::Settings& settings, const char* key) {
  const std::string path = settings.get_string(key);
  if (!path.empty() && ::access(path.c_str(), R_OK) != 0)
    throw homesip::ConfigError(key, std::string(key) + ": cannot read '" + path + "'");
}

void check_settings(const homesip::Settings& settings) {
  if (settings.get_string("host").empty()) throw homesip::ConfigError("host", "host must not be empty");
  homesip::integer_in_range(settings, "port", 1, 65535);
  const std::string base = settings.get_string("base_topic");
  if (base.empty() || base.find_first_of("+#") != std::string::npos || base.back() == '/')
    throw homesip::ConfigError("base_topic",
                               "base_topic must be a topic without +, # or a trailing /, not '" + base + "'");
  homesip::integer_in_range(settings, "keepalive_s", 5, 3600);
  const auto low = homesip::integer_in_range(settings, "reconnect_min_s", 1, 3600);
  if (homesip::integer_in_range(settings, "reconnect_max_s", 1, 3600) < low)
    throw homesip::ConfigError("reconnect_max_s", "reconnect_max_s must not be below reconnect_min_s");
  homesip::integer_in_range(settings, "answer_timeout_ms", 100, 30000);
  if (!settings.get_string("password_file").empty()) {
    if (settings.get_string("username").empty())
      throw homesip::ConfigError("password_file", "password_file needs username");
    read_password(settings.get_string("password_file"));
  }
  for (const char* key : {"tls_cafile", "tls_certfile", "tls_keyfile"}) check_readable(settings, key);
  if (settings.get_string("tls_certfile").empty() != settings.get_string("tls_keyfile").empty())
    throw homesip::ConfigError("tls_certfile", "tls_certfile and tls_keyfile go together");
  if (!settings.get_string("tls_certfile").empty() && settings.get_string("tls_cafile").empty())
    throw homesip::ConfigError("tls_certfile", "a client certificate needs tls_cafile (TLS)");
  try {
    homesip::mqtt::parse_devices(settings.get_string_list("devices"));
  } catch (const std::invalid_argument& e) {
    throw homesip::ConfigError("devices", e.what());
  }
}

homesip::mqtt::BrokerOptions broker_options(const homesip::Settings& s) {
  homesip::mqtt::BrokerOptions o;
  o.host = s.get_string("host");
  o.port = static_cast<int>(s.get_int("port"));
  o.client_id = s.get_string("client_id");
  o.username = s.get_string("username");
  if (!s.get_string("password_file").empty()) o.password = read_password(s.get_string("password_file"));
  o.cafile = s.get_string("tls_cafile");
  o.certfile = s.get_string("tls_certfile");
  o.keyfile = s.get_string("tls_keyfile");
  o.keepalive_s = static_cast<int>(s.get_int("keepalive_s"));
  o.reconnect_min_s = static_cast<int>(s.get_int("reconnect_min_s"));
  o.reconnect_max_s = static_cast<int>(s.get_int("reconnect_max_s"));
  return o;
}

// A service call waiting for the device's next state message.
struct PendingCall {
  uint64_t id;
  homesip::ServiceDone done;
  std::unique_ptr<homesip::Timer> timeout;
};

struct Device {
  DeviceSpec spec;
  nlohmann::json known = nlohmann::json::object();  // every key the device ever reported, merged
  std::optional<bool> available;                    // its availability topic; nullopt: never said
  std::string reported;                             // the last state we gave the hub (state + attributes)
  std::vector<PendingCall> pending;
};

// Everything on the main loop. Shared so that what libmosquitto's thread
// posts finds it gone (weak_ptr) after the plugin was destroyed.
class Bridge final : public homesip::ApplianceProvider, public std::enable_shared_from_this<Bridge> {
 public:
  Bridge(homesip::PluginContext& context, homesip::ApplianceHub& hub)
      : context_(context),
        log_(context.logger()),
        hub_(hub),
        base_(context.settings().get_string("base_topic")),
        answer_timeout_(context.settings().get_int("answer_timeout_ms")),
        broker_(broker_options(context.settings())),
        connected_gauge_(context.gauge("connected")),
        messages_in_(context.counter("messages_in_total")),
        commands_(context.counter("commands_total")),
        reconnects_(context.counter("reconnects_total")) {
    for (DeviceSpec& spec : homesip::mqtt::parse_devices(context.settings().get_string_list("devices"))) {
      const std::string device = spec.device;
      devices_.emplace(device, Device{std::move(spec), nlohmann::json::object(), std::nullopt, "", {}});
    }
  }

  void start() {
    std::weak_ptr<Bridge> weak = weak_from_this();
    homesip::EventLoop& loop = context_.loop();
    // Each event is copied into a task for the main loop; a task that runs
    // after the bridge is gone does nothing.
    auto post = [weak, &loop](auto fn) {
      loop.post([weak, fn = std::move(fn)] {
        if (const auto bridge = weak.lock()) fn(*bridge);
      });
    };
    homesip::mqtt::BrokerEvents events;
    events.connected = [post](const std::string& refused) {
      post([refused](Bridge& b) { b.on_connected(refused); });
    };
    events.disconnected = [post](const std::string& why) {
      post([why](Bridge& b) { b.on_disconnected(why); });
    };
    events.message = [post](const std::string& topic, const std::string& payload) {
      post([topic, payload](Bridge& b) { b.on_message(topic, payload); });
    };
    events.gave_up = [post](const std::string& why) { post([why](Bridge& b) { b.on_gave_up(why); }); };
    events_ = std::move(events);
    hub_.add_provider(*this);
    added_ = true;
    for (auto& [name, device] : devices_) report(device);
    anew_delay_s_ = broker_.reconnect_min_s;
    connect();
    running_ = true;
    log_.info("connecting to MQTT broker ", where(), " for ", devices_.size(), " device(s) under ", base_,
              "/");
  }

  // The broker let go and calls waiting answered 503; the entities stay with
  // the hub, whose own stop() (after ours) tells their watchers
  // reason=deactivated, so they subscribe again after a restart.
  void stop() {
    if (!running_) return;
    running_ = false;
    anew_.reset();
    connection_.reset();  // joins the network thread
    connected_ = false;
    connected_gauge_.set(0);
    for (auto& [name, device] : devices_) fail_pending(device, "the bridge is stopping");
  }

  // Before the plugin goes (the hub, created first, outlives it).
  void detach() {
    stop();
    if (added_) hub_.remove_provider(*this);
    added_ = false;
  }

  std::vector<homesip::EntityInfo> entities() const override {
    std::vector<homesip::EntityInfo> out;
    for (const auto& [name, device] : devices_)
      out.push_back(
          {device.spec.entity_id, device.spec.friendly_name, homesip::mqtt::services_of(device.spec.domain)});
    return out;
  }

  void call_service(const homesip::ServiceCall& call, homesip::ServiceDone done) override {
    Device* device = by_entity(call.entity_id);
    if (!device) return done(error(404, "unknown_entity", call.entity_id + " is not an MQTT device here"));
    const auto data = nlohmann::json::parse(call.data_json, nullptr, false);
    const auto command = homesip::mqtt::command_for(device->spec, call.service, data);
    if (command.status != 200) return done(error(command.status, command.error, command.message));
    if (!running_ || !online(*device))
      return done(
          error(503, "unavailable",
                connected_ ? device->spec.entity_id + " is offline" : "the MQTT broker is not reachable"));
    if (device->pending.size() >= kMaxPendingPerDevice)
      return done(error(503, "unavailable", device->spec.entity_id + " has too many calls waiting"));
    if (!connection_->publish(topic_of(*device) + "/set", command.payload.dump()))
      return done(error(503, "unavailable", "the MQTT broker is not reachable"));
    commands_.add();
    wait_for_state(*device, std::move(done));
  }

 private:
  void connect() {
    connection_ = std::make_unique<homesip::mqtt::MqttConnection>(broker_, events_);
    connection_->start();
  }

  std::string where() const { return broker_.host + ":" + std::to_string(broker_.port); }
  std::string topic_of(const Device& device) const { return base_ + "/" + device.spec.device; }

  Device* by_entity(const std::string& entity_id) {
    for (auto& [name, device] : devices_)
      if (device.spec.entity_id == entity_id) return &device;
    return nullptr;
  }

  bool online(const Device& device) const { return connected_ && device.available != false; }

  static homesip::ServiceResult error(int status, std::string code, std::string message) {
    homesip::ServiceResult result;
    result.status = status;
    result.error = std::move(code);
    result.message = std::move(message);
    return result;
  }

  homesip::EntityState state_of(const Device& device) const {
    const auto mapped = homesip::mqtt::map_state(device.spec, device.known);
    homesip::EntityState state;
    state.entity_id = device.spec.entity_id;
    state.state = online(device) ? mapped.state : "unavailable";
    state.attributes_json = mapped.attributes.dump();
    return state;
  }

  // Tells the hub when what it shows changed (zigbee2mqtt repeats unchanged
  // states, with a new linkquality, which would only make NOTIFYs).
  void report(Device& device) {
    const homesip::EntityState state = state_of(device);
    std::string shown = state.state + " " + state.attributes_json;
    if (shown == device.reported) return;
    device.reported = std::move(shown);
    hub_.report_state(state);
  }

  void wait_for_state(Device& device, homesip::ServiceDone done) {
    const uint64_t id = ++next_call_;
    const std::string name = device.spec.device;
    auto timeout =
        context_.loop().start_timer(std::chrono::milliseconds(answer_timeout_), false, [this, name, id] {
          // No state message in time: the device may have taken it silently; answer what we know.
          Device& d = devices_.at(name);
          for (auto it = d.pending.begin(); it != d.pending.end(); ++it)
            if (it->id == id) {
              auto call = std::move(*it);
              d.pending.erase(it);
              return answer(d, call.done);
            }
        });
    device.pending.push_back(PendingCall{id, std::move(done), std::move(timeout)});
  }

  void answer(const Device& device, const homesip::ServiceDone& done) {
    if (!online(device)) return done(error(503, "unavailable", device.spec.entity_id + " is unavailable"));
    homesip::ServiceResult result;
    result.state = state_of(device);
    done(std::move(result));
  }

  void answer_pending(Device& device) {
    auto pending = std::move(device.pending);
    device.pending.clear();
    for (auto& call : pending) answer(device, call.done);
  }

  void fail_pending(Device& device, const std::string& why) {
    auto pending = std::move(device.pending);
    device.pending.clear();
    for (auto& call : pending) call.done(error(503, "unavailable", why));
  }

  // One warn line per change of the connection's condition, not per attempt.
  void set_problem(const std::string& problem) {
    if (problem == problem_) return;
    problem_ = problem;
    log_.warn("MQTT broker ", where(), ": ", problem, "; retrying every ", broker_.reconnect_min_s, "..",
              broker_.reconnect_max_s, " s, its entities unavailable meanwhile");
  }

  void on_connected(const std::string& refused) {
    if (!refused.empty()) {
      refused_ = true;
      return set_problem("refused the connection (" + refused + ")");
    }
    if (connected_) return;
    connected_ = true;
    anew_delay_s_ = broker_.reconnect_min_s;
    connected_gauge_.set(1);
    if (ever_connected_) reconnects_.add();
    log_.info(ever_connected_ ? "MQTT broker " + where() + " is back"
                              : "connected to MQTT broker " + where());
    ever_connected_ = true;
    problem_.clear();
    // A new session (clean start) has no subscriptions: make them again.
    for (auto& [name, device] : devices_) {
      connection_->subscribe(topic_of(device));
      connection_->subscribe(topic_of(device) + "/availability");
      report(device);
    }
  }

  void on_disconnected(const std::string& why) {
    if (!connection_) return;  // our own disconnect at stop()
    const bool was = connected_;
    connected_ = false;
    connected_gauge_.set(0);
    // After a refused CONNECT the broker closes: the refusal already said why.
    if (!std::exchange(refused_, false))
      set_problem(was ? "connection lost (" + why + ")" : "cannot connect (" + why + ")");
    for (auto& [name, device] : devices_) {
      fail_pending(device, "the MQTT broker went away");
      report(device);
    }
  }

  // libmosquitto stopped trying (a TLS handshake failed): a new connection
  // after a wait, doubling from reconnect_min_s to reconnect_max_s as its own
  // retries would.
  void on_gave_up(const std::string& why) {
    if (!running_ || anew_pending_) return;
    on_disconnected(why);
    anew_pending_ = true;
    anew_ = context_.loop().start_timer(std::chrono::seconds(anew_delay_s_), false, [this] {
      anew_pending_ = false;
      if (!running_) return;
      connection_.reset();  // joins the network thread, which has ended
      connect();
    });
    anew_delay_s_ = std::min(anew_delay_s_ * 2, broker_.reconnect_max_s);
  }

  void on_message(const std::string& topic, const std::string& payload) {
    if (topic.size() <= base_.size() + 1 || topic.compare(0, base_.size() + 1, base_ + "/") != 0) return;
    std::string rest = topic.substr(base_.size() + 1);
    const bool availability = rest.size() > 13 && rest.ends_with("/availability");
    if (availability) rest.resize(rest.size() - 13);
    const auto it = devices_.find(rest);
    if (it == devices_.end()) return;
    messages_in_.add();
    Device& device = it->second;
    if (availability) return on_availability(device, payload);
    const auto json = nlohmann::json::parse(payload, nullptr, false);
    if (!json.is_object()) {
      log_.debug("ignoring a state of ", device.spec.device, " that is not a JSON object");
      return;
    }
    device.known.update(json);
    report(device);
    answer_pending(device);
  }

  void on_availability(Device& device, const std::string& payload) {
    const auto available = homesip::mqtt::parse_availability(payload);
    if (!available) return;
    if (device.available != available)
      log_.info(device.spec.entity_id, " (", device.spec.device, ") is ", *available ? "online" : "offline");
    device.available = available;
    if (!*available) fail_pending(device, device.spec.entity_id + " went offline");
    report(device);
  }

  homesip::PluginContext& context_;
  homesip::Logger& log_;
  homesip::ApplianceHub& hub_;
  const std::string base_;
  const int64_t answer_timeout_;
  const homesip::mqtt::BrokerOptions broker_;
  const homesip::Gauge connected_gauge_;
  const homesip::Counter messages_in_;
  const homesip::Counter commands_;
  const homesip::Counter reconnects_;
  std::map<std::string, Device> devices_;  // by zigbee2mqtt name
  homesip::mqtt::BrokerEvents events_;     // each connection's, posting to the main loop
  std::unique_ptr<homesip::mqtt::MqttConnection> connection_;
  std::unique_ptr<homesip::Timer> anew_;  // the next connection after libmosquitto gave up
  bool anew_pending_ = false;
  int anew_delay_s_ = 1;
  bool refused_ = false;  // the broker refused our CONNECT; its disconnect follows
  bool connected_ = false;
  bool ever_connected_ = false;
  std::string problem_;
  uint64_t next_call_ = 0;
  bool running_ = false;
  bool added_ = false;
};

class MqttBridgePlugin final : public homesip::Plugin {
 public:
  explicit MqttBridgePlugin(homesip::PluginContext& context)
      : bridge_(std::make_shared<Bridge>(context, context.require<homesip::ApplianceHub>())) {}
  void start() override { bridge_->start(); }
  void stop() override { bridge_->stop(); }
  // The hub outlives us (it was created first), but must not keep a provider that is gone.
  ~MqttBridgePlugin() override { bridge_->detach(); }

 private:
  std::shared_ptr<Bridge> bridge_;
};

}  // namespace

HOMESIP_PLUGIN(MqttBridgePlugin, .name = "mqtt-bridge", .version = "1.0.0",
               .summary = "zigbee2mqtt devices of an MQTT broker as entities of the appliance hub",
               .settings = kSettings, .requires_services = kRequires, .metrics = kMetrics,
               .check_settings = &check_settings)
