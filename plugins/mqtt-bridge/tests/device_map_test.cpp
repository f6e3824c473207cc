// The zigbee2mqtt mapping: config entries, state messages, /set payloads,
// availability, without a broker.
#include "device_map.hpp"

#include <gtest/gtest.h>

namespace homesip::mqtt {
namespace {

using nlohmann::json;

TEST(DeviceEntry, ReadsNameEntityAndOptions) {
  const DeviceSpec light = parse_device("kitchen_lamp light.kitchen name='Kitchen light'");
  EXPECT_EQ(light.device, "kitchen_lamp");
  EXPECT_EQ(light.entity_id, "light.kitchen");
  EXPECT_EQ(light.domain, "light");
  EXPECT_EQ(light.friendly_name, "Kitchen light");
  const DeviceSpec door = parse_device("'front door' binary_sensor.front_door key=contact");
  EXPECT_EQ(door.device, "front door");
  EXPECT_EQ(door.key, "contact");
  EXPECT_TRUE(door.invert);  // zigbee2mqtt's contact=true is a closed door
  EXPECT_FALSE(parse_device("hall binary_sensor.hall key=occupancy").invert);
  EXPECT_FALSE(parse_device("door binary_sensor.door key=contact invert=false").invert);
  EXPECT_EQ(parse_device("t sensor.t key=temperature unit=°C").unit, "°C");
}

TEST(DeviceEntry, RefusesWhatIsWrongSayingWhat) {
  auto refusal = [](const char* line) {
    try {
      parse_device(line);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refusal("lamp"),
            "needs a zigbee2mqtt device name and an entity id, e.g. \"kitchen_lamp light.kitchen\"");
  EXPECT_EQ(refusal("lamp toaster.kitchen").rfind("'toaster.kitchen' is not an entity id", 0), 0u);
  EXPECT_EQ(refusal("lamp light.Kitchen").rfind("'light.Kitchen' is not an entity id", 0), 0u);
  EXPECT_EQ(refusal("a/b light.kitchen"), "'a/b' is not a device name (no '/', '+' or '#')");
  EXPECT_EQ(refusal("lamp light.kitchen colour=red"),
            "unknown option 'colour=red' (name=, key=, unit=, invert=true|false)");
  EXPECT_EQ(refusal("door binary_sensor.door"),
            "binary_sensor.door needs key=<the state message's key>, e.g. key=contact");
  EXPECT_EQ(refusal("lamp light.kitchen key=state"),
            "key= and invert= are for binary_sensor and sensor only");
  EXPECT_EQ(refusal("lamp light.kitchen name='Kitchen"), "a quote is not closed");
}

TEST(DeviceEntry, RefusesADeviceOrEntityNamedTwice) {
  EXPECT_THROW(parse_devices({"a light.a", "a light.b"}), std::invalid_argument);
  EXPECT_THROW(parse_devices({"a light.a", "b light.a"}), std::invalid_argument);
  try {
    parse_devices({"a light.a", "b nope"});
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("devices entry \"b nope\": ", 0), 0u) << e.what();
  }
  EXPECT_EQ(parse_devices({"a light.a", "b switch.b"}).size(), 2u);
}

TEST(StateMessage, LightAndSwitch) {
  const DeviceSpec light = parse_device("lamp light.kitchen name=Kitchen");
  const MappedState on = map_state(light, json{{"state", "ON"}, {"brightness", 128}, {"linkquality", 90}});
  EXPECT_EQ(on.state, "on");
  EXPECT_EQ(on.attributes, (json{{"friendly_name", "Kitchen"}, {"brightness", 128}}));
  EXPECT_EQ(map_state(light, json{{"state", "OFF"}}).state, "off");
  EXPECT_EQ(map_state(light, json::object()).state, "unknown");
  const DeviceSpec plug = parse_device("plug switch.coffee");
  const MappedState plug_state = map_state(plug, json{{"state", "ON"}, {"brightness", 3}});
  EXPECT_EQ(plug_state.state, "on");
  EXPECT_EQ(plug_state.attributes, (json{{"friendly_name", "switch.coffee"}}));  // no brightness on a switch
}

TEST(StateMessage, ClimateCoverLock) {
  const MappedState heat = map_state(parse_device("trv climate.living"),
                                     json{{"current_heating_setpoint", 21.5}, {"local_temperature", 18}});
  EXPECT_EQ(heat.state, "heat");
  EXPECT_EQ(heat.attributes["temperature"], 21.5);
  EXPECT_EQ(heat.attributes["current_temperature"], 18);
  EXPECT_EQ(map_state(parse_device("trv climate.living"), json{{"system_mode", "off"}}).state, "off");
  const DeviceSpec garage = parse_device("garage cover.garage");
  EXPECT_EQ(map_state(garage, json{{"state", "OPEN"}}).state, "open");
  EXPECT_EQ(map_state(garage, json{{"state", "CLOSE"}}).state, "closed");
  const MappedState half = map_state(garage, json{{"state", "CLOSE"}, {"position", 40}});
  EXPECT_EQ(half.state, "open");  // the position is what the cover is at
  EXPECT_EQ(half.attributes["current_position"], 40);
  EXPECT_EQ(map_state(garage, json{{"position", 0}}).state, "closed");
  const DeviceSpec lock = parse_device("door_lock lock.front_door");
  EXPECT_EQ(map_state(lock, json{{"state", "LOCK"}}).state, "locked");
  EXPECT_EQ(map_state(lock, json{{"state", "UNLOCK"}, {"lock_state", "unlocked"}}).state, "unlocked");
}

TEST(StateMessage, SensorsReadTheirKey) {
  const DeviceSpec door = parse_device("door binary_sensor.front_door key=contact");
  EXPECT_EQ(map_state(door, json{{"contact", true}}).state, "off");  // closed
  EXPECT_EQ(map_state(door, json{{"contact", false}}).state, "on");  // open
  EXPECT_EQ(map_state(door, json{{"battery", 97}}).state, "unknown");
  EXPECT_EQ(map_state(door, json{{"contact", false}, {"battery", 97}}).attributes["battery"], 97);
  const DeviceSpec motion = parse_device("hall binary_sensor.hall key=occupancy");
  EXPECT_EQ(map_state(motion, json{{"occupancy", true}}).state, "on");
  const DeviceSpec temperature = parse_device("t sensor.hall_temperature key=temperature unit=°C");
  const MappedState t = map_state(temperature, json{{"temperature", 21.5}, {"humidity", 40}});
  EXPECT_EQ(t.state, "21.5");
  EXPECT_EQ(t.attributes["unit_of_measurement"], "°C");
}

TEST(ServiceCall, LightPayloads) {
  const DeviceSpec light = parse_device("lamp light.kitchen");
  EXPECT_EQ(command_for(light, "turn_on", json{{"brightness", 200}}).payload,
            (json{{"state", "ON"}, {"brightness", 200}}));
  EXPECT_EQ(command_for(light, "turn_on", json::object()).payload, (json{{"state", "ON"}}));
  EXPECT_EQ(command_for(light, "turn_off", json::object()).payload, (json{{"state", "OFF"}}));
  EXPECT_EQ(command_for(light, "toggle", json::object()).payload, (json{{"state", "TOGGLE"}}));
  const Command bad = command_for(light, "turn_on", json{{"brightness", 300}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.error, "invalid_data");
  EXPECT_EQ(bad.message, "brightness must be an integer 0..255");
  EXPECT_EQ(command_for(light, "turn_on", json{{"brightness", "high"}}).error, "invalid_data");
  const Command unknown = command_for(light, "open_cover", json::object());
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.error, "unknown_service");
  EXPECT_EQ(command_for(light, "turn_on", json::array()).error, "invalid_data");
}

TEST(ServiceCall, OtherDomains) {
  EXPECT_EQ(
      command_for(parse_device("trv climate.living"), "set_temperature", json{{"temperature", 21.5}}).payload,
      (json{{"current_heating_setpoint", 21.5}}));
  EXPECT_EQ(
      command_for(parse_device("trv climate.living"), "set_temperature", json{{"temperature", 50}}).error,
      "invalid_data");
  const DeviceSpec garage = parse_device("garage cover.garage");
  EXPECT_EQ(command_for(garage, "close_cover", json::object()).payload, (json{{"state", "CLOSE"}}));
  EXPECT_EQ(command_for(garage, "stop_cover", json::object()).payload, (json{{"state", "STOP"}}));
  EXPECT_EQ(command_for(garage, "set_cover_position", json{{"position", 30}}).payload,
            (json{{"position", 30}}));
  EXPECT_EQ(command_for(garage, "set_cover_position", json::object()).error, "invalid_data");
  EXPECT_EQ(command_for(parse_device("l lock.door"), "unlock", json::object()).payload,
            (json{{"state", "UNLOCK"}}));
  EXPECT_EQ(command_for(parse_device("d binary_sensor.d key=contact"), "turn_on", json::object()).error,
            "unknown_service");
  EXPECT_EQ(services_of("cover"),
            (std::vector<std::string>{"open_cover", "close_cover", "stop_cover", "set_cover_position"}));
  EXPECT_TRUE(services_of("sensor").empty());
}

TEST(Availability, PlainAndJson) {
  EXPECT_EQ(parse_availability("online"), true);
  EXPECT_EQ(parse_availability("offline"), false);
  EXPECT_EQ(parse_availability(R"({"state":"online"})"), true);
  EXPECT_EQ(parse_availability(R"({"state":"offline"})"), false);
  EXPECT_EQ(parse_availability("maybe"), std::nullopt);
  EXPECT_EQ(parse_availability(R"({"status":"online"})"), std::nullopt);
}

}  // namespace
}  // namespace homesip::mqtt
