// The entities of appliances-virtual, read from the `entities` setting: one
// string per entity, its id then key=value pairs (values with spaces in
// quotes), e.g.
//   "light.kitchen name='Kitchen light' brightness=200"
//   "climate.living_room target=21 current=18 drift_per_minute=1"
//   "binary_sensor.front_door flip_every_s=30"
// and what each does: its services, their data, its state as JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/appliance.hpp"

namespace homesip::appliances_virtual {

enum class Kind { kLight, kSwitch, kClimate, kBinarySensor, kCover, kLock };

struct VirtualEntity {
  std::string id;
  Kind kind = Kind::kSwitch;
  std::string name;
  std::string state;     // on/off, open/closed, locked/unlocked, heat
  int brightness = 255;  // light
  double target = 21;    // climate, °C
  double current = 21;   // climate, °C
  double drift_per_minute = 0;
  int64_t flip_every_s = 0;  // binary_sensor; 0: never

  std::vector<std::string> services() const;
  EntityState to_state() const;
};

// Parses one entry; throws std::invalid_argument saying what is wrong.
VirtualEntity parse_entity(std::string_view entry);
// Every entry (ids unique); throws std::invalid_argument naming the entry.
std::vector<VirtualEntity> parse_entities(const std::vector<std::string>& entries);

// What a service call does to `entity`: nullopt and true with the change
// applied, or a ServiceResult with the error (400 invalid_data / unknown_service).
std::optional<ServiceResult> apply_service(VirtualEntity& entity, const std::string& service,
                                           const std::string& data_json);

// One second of drift toward the target: true when the shown (0.1 °C) value changed.
bool drift_one_second(VirtualEntity& entity);

}  // namespace homesip::appliances_virtual
