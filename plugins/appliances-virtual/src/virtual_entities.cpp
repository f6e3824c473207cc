#include "virtual_entities.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

namespace homesip::appliances_virtual {

using nlohmann::json;

namespace {

struct KindInfo {
  const char* domain;
  Kind kind;
  std::vector<std::string> keys;  // besides name
};

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> all = {
      {"light", Kind::kLight, {"state", "brightness"}},
      {"switch", Kind::kSwitch, {"state"}},
      {"climate", Kind::kClimate, {"target", "current", "drift_per_minute"}},
      {"binary_sensor", Kind::kBinarySensor, {"state", "flip_every_s"}},
      {"cover", Kind::kCover, {"state"}},
      {"lock", Kind::kLock, {"state"}},
  };
  return all;
}

bool valid_id(std::string_view id) {
  const size_t dot = id.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == id.size()) return false;
  return std::all_of(id.begin(), id.end(),
                     [&](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
                     }) &&
         std::count(id.begin(), id.end(), '.') == 1;
}

// "a=1 b='x y'" -> {a: 1, b: x y}.
std::vector<std::pair<std::string, std::string>> split_pairs(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    const size_t eq = text.find('=', i);
    const size_t space = text.find(' ', i);
    if (eq == std::string_view::npos || (space != std::string_view::npos && space < eq))
      throw std::invalid_argument("'" + std::string(text.substr(i, space - i)) + "' is not key=value");
    std::string key(text.substr(i, eq - i));
    i = eq + 1;
    std::string value;
    if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
      const char quote = text[i];
      const size_t close = text.find(quote, i + 1);
      if (close == std::string_view::npos) throw std::invalid_argument("unclosed quote in " + key);
      value = std::string(text.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      const size_t end = std::min(text.find(' ', i), text.size());
      value = std::string(text.substr(i, end - i));
      i = end;
    }
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

std::string shown_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

double number_of(const std::string& key, const std::string& value, double low, double high) {
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty() || !std::isfinite(number) || number < low || number > high)
    throw std::invalid_argument(key + " must be a number from " + shown_number(low) + " to " +
                                shown_number(high) + ", not '" + value + "'");
  return number;
}

const std::map<Kind, std::vector<std::string>>& state_values() {
  static const std::map<Kind, std::vector<std::string>> values = {
      {Kind::kLight, {"on", "off"}},         {Kind::kSwitch, {"on", "off"}},
      {Kind::kBinarySensor, {"on", "off"}},  {Kind::kCover, {"open", "closed"}},
      {Kind::kLock, {"locked", "unlocked"}}, {Kind::kClimate, {"heat"}}};
  return values;
}

ServiceResult invalid(const std::string& message) { return ServiceResult{400, "invalid_data", message, {}}; }

// Rounds to what watchers see: 0.1 °C.
double shown(double celsius) { return std::round(celsius * 10) / 10; }

}  // namespace

std::vector<std::string> VirtualEntity::services() const {
  switch (kind) {
    case Kind::kLight:
    case Kind::kSwitch:
      return {"turn_on", "turn_off", "toggle"};
    case Kind::kClimate:
      return {"set_temperature"};
    case Kind::kCover:
      return {"open_cover", "close_cover", "stop_cover"};
    case Kind::kLock:
      return {"lock", "unlock"};
    case Kind::kBinarySensor:
      return {};
  }
  return {};
}

EntityState VirtualEntity::to_state() const {
  json attributes = json::object();
  if (kind == Kind::kLight) attributes["brightness"] = state == "on" ? json(brightness) : json(nullptr);
  if (kind == Kind::kClimate) {
    attributes["temperature"] = shown(target);
    attributes["current_temperature"] = shown(current);
  }
  if (kind == Kind::kCover) attributes["current_position"] = state == "open" ? 100 : 0;
  return EntityState{id, state, attributes.dump(), 0};
}

VirtualEntity parse_entity(std::string_view entry) {
  while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
  const size_t space = std::min(entry.find(' '), entry.size());
  VirtualEntity entity;
  entity.id = std::string(entry.substr(0, space));
  if (!valid_id(entity.id))
    throw std::invalid_argument("'" + entity.id + "' is not an entity id such as light.kitchen");
  const std::string domain = entity.id.substr(0, entity.id.find('.'));
  const auto kind =
      std::find_if(kinds().begin(), kinds().end(), [&](const KindInfo& k) { return domain == k.domain; });
  if (kind == kinds().end())
    throw std::invalid_argument(
        "virtual entities are light, switch, climate, binary_sensor, cover or lock, not " + domain);
  entity.kind = kind->kind;
  entity.state = entity.kind == Kind::kCover     ? "closed"
                 : entity.kind == Kind::kLock    ? "locked"
                 : entity.kind == Kind::kClimate ? "heat"
                                                 : "off";
  bool current_given = false;
  for (const auto& [key, value] : split_pairs(entry.substr(space))) {
    if (key != "name" && std::find(kind->keys.begin(), kind->keys.end(), key) == kind->keys.end())
      throw std::invalid_argument(entity.id + ": no key '" + key + "' for a " + domain);
    if (key == "name") entity.name = value;
    if (key == "state") {
      const auto& allowed = state_values().at(entity.kind);
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
        throw std::invalid_argument(entity.id + ": state '" + value + "' is not one of " +
                                    json(allowed).dump());
      entity.state = value;
    }
    if (key == "brightness") {
      const double brightness = number_of(key, value, 0, 255);
      if (std::floor(brightness) != brightness)
        throw std::invalid_argument("brightness must be an integer from 0 to 255, not '" + value + "'");
      entity.brightness = static_cast<int>(brightness);
    }
    if (key == "target") entity.target = number_of(key, value, 5, 35);
    if (key == "current") {
      entity.current = number_of(key, value, -50, 60);
      current_given = true;
    }
    if (key == "drift_per_minute") entity.drift_per_minute = number_of(key, value, 0, 60);
    if (key == "flip_every_s") entity.flip_every_s = static_cast<int64_t>(number_of(key, value, 0, 86400));
  }
  if (entity.kind == Kind::kClimate && !current_given) entity.current = entity.target;
  return entity;
}

std::vector<VirtualEntity> parse_entities(const std::vector<std::string>& entries) {
  std::vector<VirtualEntity> out;
  for (const std::string& entry : entries) {
    try {
      out.push_back(parse_entity(entry));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("entry \"" + entry + "\": " + e.what());
    }
    for (size_t i = 0; i + 1 < out.size(); ++i)
      if (out[i].id == out.back().id) throw std::invalid_argument(out.back().id + " is declared twice");
  }
  return out;
}

std::optional<ServiceResult> apply_service(VirtualEntity& entity, const std::string& service,
                                           const std::string& data_json) {
  const std::vector<std::string> services = entity.services();
  if (std::find(services.begin(), services.end(), service) == services.end())
    return ServiceResult{400, "unknown_service", entity.id + " has no service " + service, {}};
  const json data = json::parse(data_json, nullptr, false);
  if (!data.is_object()) return invalid("data must be a JSON object");
  const std::vector<std::string> allowed_keys =
      service == "turn_on" && entity.kind == Kind::kLight ? std::vector<std::string>{"brightness"}
      : service == "set_temperature"                      ? std::vector<std::string>{"temperature"}
                                                          : std::vector<std::string>{};
  for (const auto& [key, value] : data.items())
    if (std::find(allowed_keys.begin(), allowed_keys.end(), key) == allowed_keys.end())
      return invalid(service + " takes no '" + key + "'");

  if (service == "turn_on") {
    if (const auto b = data.find("brightness"); b != data.end()) {
      if (!b->is_number_integer() || b->get<int64_t>() < 0 || b->get<int64_t>() > 255)
        return invalid("brightness must be an integer from 0 to 255");
      entity.brightness = static_cast<int>(b->get<int64_t>());
      if (entity.brightness == 0) {  // as Home Assistant: brightness 0 turns the light off
        entity.state = "off";
        return std::nullopt;
      }
    }
    entity.state = "on";
  } else if (service == "turn_off") {
    entity.state = "off";
  } else if (service == "toggle") {
    entity.state = entity.state == "on" ? "off" : "on";
  } else if (service == "set_temperature") {
    const auto t = data.find("temperature");
    if (t == data.end() || !t->is_number() || t->get<double>() < 5 || t->get<double>() > 35)
      return invalid("temperature must be a number from 5 to 35");
    entity.target = t->get<double>();
  } else if (service == "open_cover") {
    entity.state = "open";
  } else if (service == "close_cover") {
    entity.state = "closed";
  } else if (service == "lock") {
    entity.state = "locked";
  } else if (service == "unlock") {
    entity.state = "unlocked";
  }
  // stop_cover: a virtual cover moves at once, so there is nothing to stop.
  return std::nullopt;
}

bool drift_one_second(VirtualEntity& entity) {
  if (entity.kind != Kind::kClimate || entity.drift_per_minute <= 0 || entity.current == entity.target)
    return false;
  const double before = shown(entity.current);
  const double step = entity.drift_per_minute / 60;
  if (std::abs(entity.target - entity.current) <= step)
    entity.current = entity.target;
  else
    entity.current += entity.target > entity.current ? step : -step;
  return shown(entity.current) != before;
}

}  // namespace homesip::appliances_virtual
