// zigbee2mqtt devices as Home Assistant entities: the config line of a device,
// its state messages read into an entity's state, service calls written as
// /set payloads, availability messages. No MQTT and no plugin here, so the
// mapping is tested on its own (tests/device_map_test.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip::mqtt {

// One `devices:` entry, e.g.
//   "kitchen_lamp light.kitchen name='Kitchen light'"
//   "'front door' binary_sensor.front_door key=contact"
//   "hallway_sensor sensor.hallway_temperature key=temperature unit=°C"
struct DeviceSpec {
  std::string device;         // the zigbee2mqtt friendly name: topics <base>/<device>...
  std::string entity_id;      // "light.kitchen"
  std::string domain;         // "light"
  std::string friendly_name;  // name=...; empty: the entity id
  std::string key;            // binary_sensor/sensor: the state message's key read as the state
  std::string unit;           // sensor: unit_of_measurement
  bool invert = false;        // binary_sensor: true reads as "off" (default for key=contact: closed = off)
};

// Parses one entry; throws std::invalid_argument saying what is wrong.
DeviceSpec parse_device(std::string_view line);
// Every entry; also refuses a device or entity named twice.
std::vector<DeviceSpec> parse_devices(const std::vector<std::string>& lines);

// The services an entity of `domain` accepts.
std::vector<std::string> services_of(const std::string& domain);

// An entity's state as the hub wants it: state text plus attributes.
struct MappedState {
  std::string state;
  nlohmann::json attributes = nlohmann::json::object();
};

// A state message (a JSON object, possibly partial) merged into `last` (the
// device's whole known state); the entity's state read from the merge.
MappedState map_state(const DeviceSpec& spec, const nlohmann::json& merged);

// The /set payload for a service call, or an error.
struct Command {
  nlohmann::json payload;  // {"state":"ON","brightness":200}
  int status = 200;        // 400 on bad data or an unknown service
  std::string error;       // "unknown_service", "invalid_data"
  std::string message;
};
Command command_for(const DeviceSpec& spec, const std::string& service, const nlohmann::json& data);

// "online"/"offline" or {"state":"online"}: true/false; nullopt for anything else.
std::optional<bool> parse_availability(std::string_view payload);

}  // namespace homesip::mqtt
