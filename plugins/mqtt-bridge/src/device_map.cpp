#include "device_map.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

namespace homesip::mqtt {
namespace {

const std::vector<std::string> kDomains = {"light", "switch",        "climate", "cover",
                                           "lock",  "binary_sensor", "sensor"};

// Words separated by blanks; 'single quotes' keep blanks inside one word
// (zigbee2mqtt names such as 'front door'), in any part of it (name='Kitchen light').
std::vector<std::string> words_of(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false, in_word = false;
  for (char c : line) {
    if (c == '\'') {
      quoted = !quoted;
      in_word = true;
    } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quoted) throw std::invalid_argument("a quote is not closed");
  if (in_word) words.push_back(std::move(word));
  return words;
}

bool valid_object_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '_';
  });
}

// MQTT topic levels: no wildcards, no NUL; '/' would change which topics are ours.
bool valid_device_name(std::string_view name) {
  return !name.empty() && name.find_first_of("+#/") == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// zigbee2mqtt's "ON"/"OFF" (any case), or a boolean.
std::optional<bool> on_off(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (!value.is_string()) return std::nullopt;
  const std::string text = lower(value.get<std::string>());
  if (text == "on" || text == "true") return true;
  if (text == "off" || text == "false") return false;
  return std::nullopt;
}

// A value as a state text: strings as they are, numbers and booleans as JSON writes them.
std::string state_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "on" : "off";
  return value.dump();
}

const nlohmann::json* find(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

void copy_if_present(const nlohmann::json& from, const char* key, nlohmann::json& to, const char* as) {
  if (const auto* value = find(from, key)) to[as] = *value;
}

std::string switch_state(const nlohmann::json& merged) {
  const auto* value = find(merged, "state");
  if (!value) return "unknown";
  const auto on = on_off(*value);
  return on ? (*on ? "on" : "off") : "unknown";
}

std::string cover_state(const nlohmann::json& merged) {
  if (const auto* position = find(merged, "position"); position && position->is_number())
    return position->get<double>() > 0 ? "open" : "closed";
  const auto* value = find(merged, "state");
  if (!value || !value->is_string()) return "unknown";
  const std::string text = lower(value->get<std::string>());
  if (text == "open") return "open";
  if (text == "close" || text == "closed") return "closed";
  if (text == "opening" || text == "closing") return text;
  return "unknown";
}

std::string lock_state(const nlohmann::json& merged) {
  const auto* value = find(merged, "lock_state");
  if (!value) value = find(merged, "state");
  if (!value || !value->is_string()) return "unknown";
  const std::string text = lower(value->get<std::string>());
  if (text == "lock" || text == "locked") return "locked";
  if (text == "unlock" || text == "unlocked") return "unlocked";
  return text == "jammed" ? "jammed" : "unknown";
}

std::string binary_state(const DeviceSpec& spec, const nlohmann::json& merged) {
  const auto* value = find(merged, spec.key.c_str());
  const auto on = value ? on_off(*value) : std::nullopt;
  if (!on) return "unknown";
  return *on != spec.invert ? "on" : "off";
}

// The integer in data[key], or an error naming it; nullopt when absent.
std::optional<long> integer_in(const nlohmann::json& data, const char* key, long low, long high,
                               Command& out) {
  const auto it = data.find(key);
  if (it == data.end()) return std::nullopt;
  if (!it->is_number_integer() || it->get<long>() < low || it->get<long>() > high) {
    out.status = 400;
    out.error = "invalid_data";
    out.message =
        std::string(key) + " must be an integer " + std::to_string(low) + ".." + std::to_string(high);
    return std::nullopt;
  }
  return it->get<long>();
}

Command unknown_service(const DeviceSpec& spec, const std::string& service) {
  Command out;
  out.status = 400;
  out.error = "unknown_service";
  out.message = spec.entity_id + " has no service " + service;
  return out;
}

Command light_or_switch(const DeviceSpec& spec, const std::string& service, const nlohmann::json& data) {
  Command out;
  if (service == "turn_off")
    out.payload = {{"state", "OFF"}};
  else if (service == "toggle")
    out.payload = {{"state", "TOGGLE"}};
  else if (service == "turn_on") {
    out.payload = {{"state", "ON"}};
    if (spec.domain == "light")
      if (const auto brightness = integer_in(data, "brightness", 0, 255, out))
        out.payload["brightness"] = *brightness;
  } else {
    return unknown_service(spec, service);
  }
  return out;
}

Command climate(const DeviceSpec& spec, const std::string& service, const nlohmann::json& data) {
  if (service != "set_temperature") return unknown_service(spec, service);
  Command out;
  const auto it = data.find("temperature");
  if (it == data.end() || !it->is_number() || it->get<double>() < 5 || it->get<double>() > 35) {
    out.status = 400;
    out.error = "invalid_data";
    out.message = "temperature must be a number 5..35";
    return out;
  }
  out.payload = {{"current_heating_setpoint", *it}};
  return out;
}

Command cover(const DeviceSpec& spec, const std::string& service, const nlohmann::json& data) {
  Command out;
  if (service == "open_cover")
    out.payload = {{"state", "OPEN"}};
  else if (service == "close_cover")
    out.payload = {{"state", "CLOSE"}};
  else if (service == "stop_cover")
    out.payload = {{"state", "STOP"}};
  else if (service == "set_cover_position") {
    const auto position = integer_in(data, "position", 0, 100, out);
    if (out.status != 200) return out;
    if (!position) return Command{{}, 400, "invalid_data", "position (0..100) is needed"};
    out.payload = {{"position", *position}};
  } else {
    return unknown_service(spec, service);
  }
  return out;
}

Command lock(const DeviceSpec& spec, const std::string& service) {
  if (service == "lock") return Command{{{"state", "LOCK"}}, 200, "", ""};
  if (service == "unlock") return Command{{{"state", "UNLOCK"}}, 200, "", ""};
  return unknown_service(spec, service);
}

}  // namespace

DeviceSpec parse_device(std::string_view line) {
  const std::vector<std::string> words = words_of(line);
  if (words.size() < 2)
    throw std::invalid_argument(
        "needs a zigbee2mqtt device name and an entity id, e.g. \"kitchen_lamp light.kitchen\"");
  DeviceSpec spec;
  spec.device = words[0];
  spec.entity_id = words[1];
  if (!valid_device_name(spec.device))
    throw std::invalid_argument("'" + spec.device + "' is not a device name (no '/', '+' or '#')");
  const auto dot = spec.entity_id.find('.');
  spec.domain = spec.entity_id.substr(0, dot);
  if (dot == std::string::npos ||
      std::find(kDomains.begin(), kDomains.end(), spec.domain) == kDomains.end() ||
      !valid_object_id(spec.entity_id.substr(dot + 1)))
    throw std::invalid_argument(
        "'" + spec.entity_id +
        "' is not an entity id such as light.kitchen (domains: light, switch, climate, "
        "cover, lock, binary_sensor, sensor; object id: a-z, 0-9, _)");
  std::optional<bool> invert;
  for (size_t i = 2; i < words.size(); ++i) {
    const auto equals = words[i].find('=');
    if (equals == std::string::npos) throw std::invalid_argument("'" + words[i] + "' is not key=value");
    const std::string key = words[i].substr(0, equals), value = words[i].substr(equals + 1);
    if (key == "name")
      spec.friendly_name = value;
    else if (key == "key")
      spec.key = value;
    else if (key == "unit")
      spec.unit = value;
    else if (key == "invert" && (value == "true" || value == "false"))
      invert = value == "true";
    else
      throw std::invalid_argument("unknown option '" + words[i] +
                                  "' (name=, key=, unit=, invert=true|false)");
  }
  const bool needs_key = spec.domain == "binary_sensor" || spec.domain == "sensor";
  if (needs_key && spec.key.empty())
    throw std::invalid_argument(spec.entity_id + " needs key=<the state message's key>, e.g. key=contact");
  if (!needs_key && (!spec.key.empty() || invert))
    throw std::invalid_argument("key= and invert= are for binary_sensor and sensor only");
  if (!spec.unit.empty() && spec.domain != "sensor") throw std::invalid_argument("unit= is for sensor only");
  // zigbee2mqtt's contact is true when the door is closed; Home Assistant's door sensor is on when open.
  spec.invert = invert.value_or(spec.domain == "binary_sensor" && spec.key == "contact");
  return spec;
}

std::vector<DeviceSpec> parse_devices(const std::vector<std::string>& lines) {
  std::vector<DeviceSpec> specs;
  std::set<std::string> devices, entities;
  for (const std::string& line : lines) {
    DeviceSpec spec;
    try {
      spec = parse_device(line);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("devices entry \"" + line + "\": " + e.what());
    }
    if (!devices.insert(spec.device).second)
      throw std::invalid_argument("devices: device '" + spec.device + "' is named twice");
    if (!entities.insert(spec.entity_id).second)
      throw std::invalid_argument("devices: entity " + spec.entity_id + " is named twice");
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::vector<std::string> services_of(const std::string& domain) {
  if (domain == "light" || domain == "switch") return {"turn_on", "turn_off", "toggle"};
  if (domain == "climate") return {"set_temperature"};
  if (domain == "cover") return {"open_cover", "close_cover", "stop_cover", "set_cover_position"};
  if (domain == "lock") return {"lock", "unlock"};
  return {};
}

MappedState map_state(const DeviceSpec& spec, const nlohmann::json& merged) {
  MappedState out;
  out.attributes["friendly_name"] = spec.friendly_name.empty() ? spec.entity_id : spec.friendly_name;
  const std::string& d = spec.domain;
  if (d == "light" || d == "switch") {
    out.state = switch_state(merged);
    if (d == "light") {
      copy_if_present(merged, "brightness", out.attributes, "brightness");
      copy_if_present(merged, "color_temp", out.attributes, "color_temp");
    }
  } else if (d == "climate") {
    const auto* mode = find(merged, "system_mode");
    out.state = mode && mode->is_string() ? lower(mode->get<std::string>()) : "heat";
    copy_if_present(merged, "current_heating_setpoint", out.attributes, "temperature");
    copy_if_present(merged, "local_temperature", out.attributes, "current_temperature");
  } else if (d == "cover") {
    out.state = cover_state(merged);
    copy_if_present(merged, "position", out.attributes, "current_position");
  } else if (d == "lock") {
    out.state = lock_state(merged);
  } else if (d == "binary_sensor") {
    out.state = binary_state(spec, merged);
  } else {  // sensor
    const auto* value = find(merged, spec.key.c_str());
    out.state = value ? state_text(*value) : "unknown";
    if (!spec.unit.empty()) out.attributes["unit_of_measurement"] = spec.unit;
  }
  copy_if_present(merged, "battery", out.attributes, "battery");
  return out;
}

Command command_for(const DeviceSpec& spec, const std::string& service, const nlohmann::json& data) {
  if (!data.is_object()) return Command{{}, 400, "invalid_data", "data must be a JSON object"};
  const std::string& d = spec.domain;
  if (d == "light" || d == "switch") return light_or_switch(spec, service, data);
  if (d == "climate") return climate(spec, service, data);
  if (d == "cover") return cover(spec, service, data);
  if (d == "lock") return lock(spec, service);
  return unknown_service(spec, service);
}

std::optional<bool> parse_availability(std::string_view payload) {
  std::string text(payload);
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_object()) {
    const auto it = json.find("state");
    if (it == json.end() || !it->is_string()) return std::nullopt;
    text = it->get<std::string>();
  }
  text = lower(text);
  if (text == "online") return true;
  if (text == "offline") return false;
  return std::nullopt;
}

}  // namespace homesip::mqtt
