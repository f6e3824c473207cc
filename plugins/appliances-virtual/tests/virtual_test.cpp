// appliances-virtual: its config entries, its services, and the plugin through
// its descriptor on the SDK test kit with the real hub as its ApplianceHub.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "homesip/appliance.hpp"
#include "homesip/testkit/testkit.hpp"
#include "hub.hpp"
#include "virtual_entities.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace {

using namespace homesip;
using namespace homesip::appliances_virtual;
using namespace homesip::testkit;
using nlohmann::json;

TEST(VirtualEntities, ParsesTheCompactEntries) {
  const VirtualEntity light = parse_entity("light.kitchen name='Kitchen light' brightness=200 state=on");
  EXPECT_EQ(light.id, "light.kitchen");
  EXPECT_EQ(light.kind, Kind::kLight);
  EXPECT_EQ(light.name, "Kitchen light");
  EXPECT_EQ(light.brightness, 200);
  EXPECT_EQ(light.state, "on");
  const VirtualEntity climate = parse_entity("climate.living_room target=21 current=18 drift_per_minute=1");
  EXPECT_EQ(climate.target, 21);
  EXPECT_EQ(climate.current, 18);
  EXPECT_EQ(climate.state, "heat");
  EXPECT_EQ(parse_entity("cover.garage").state, "closed");
  EXPECT_EQ(parse_entity("lock.front_door").state, "locked");
  EXPECT_EQ(parse_entity("binary_sensor.front_door flip_every_s=30").flip_every_s, 30);
}

TEST(VirtualEntities, RefusesBadEntriesSayingWhy) {
  EXPECT_THROW(parse_entity("kitchen"), std::invalid_argument);
  EXPECT_THROW(parse_entity("vacuum.robot"), std::invalid_argument);
  EXPECT_THROW(parse_entity("light.kitchen brightness=300"), std::invalid_argument);
  EXPECT_THROW(parse_entity("light.kitchen brightness=1.5"), std::invalid_argument);
  EXPECT_THROW(parse_entity("switch.coffee target=21"), std::invalid_argument);
  EXPECT_THROW(parse_entity("light.kitchen name='open"), std::invalid_argument);
  EXPECT_THROW(parse_entity("climate.x target=50"), std::invalid_argument);
  EXPECT_THROW(parse_entities({"switch.a", "switch.a"}), std::invalid_argument);
}

TEST(VirtualEntities, CheckSettingsNamesTheKey) {
  try {
    FakePluginContext context(*homesip_plugin_descriptor(), {{"entities", {"light.kitchen brightness=x"}}});
    FAIL() << "accepted a bad brightness";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "entities");
    EXPECT_NE(std::string(e.what()).find("brightness"), std::string::npos) << e.what();
  }
}

TEST(VirtualEntities, ServicesValidateTheirData) {
  VirtualEntity light = parse_entity("light.kitchen");
  EXPECT_FALSE(apply_service(light, "turn_on", R"({"brightness": 128})"));
  EXPECT_EQ(light.state, "on");
  EXPECT_EQ(json::parse(light.to_state().attributes_json)["brightness"], 128);
  auto bad = apply_service(light, "turn_on", R"({"brightness": 256})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->error, "invalid_data");
  EXPECT_TRUE(apply_service(light, "turn_on", R"({"brightness": "high"})"));
  EXPECT_TRUE(apply_service(light, "turn_on", R"({"colour": 3})"));
  EXPECT_FALSE(apply_service(light, "toggle", "{}"));
  EXPECT_EQ(light.state, "off");
  EXPECT_EQ(apply_service(light, "lock", "{}")->error, "unknown_service");

  VirtualEntity climate = parse_entity("climate.living_room target=21 current=18 drift_per_minute=6");
  EXPECT_EQ(apply_service(climate, "set_temperature", R"({"temperature": 40})")->error, "invalid_data");
  EXPECT_FALSE(apply_service(climate, "set_temperature", R"({"temperature": 22.5})"));
  EXPECT_EQ(climate.target, 22.5);
  EXPECT_TRUE(drift_one_second(climate));  // 0.1 °C a second
  EXPECT_DOUBLE_EQ(json::parse(climate.to_state().attributes_json)["current_temperature"].get<double>(),
                   18.1);
}

class VirtualPluginTest : public ::testing::Test {
 protected:
  static appliance_hub::HubSettings hub_settings() {
    appliance_hub::HubSettings settings;
    settings.domain = "C1.D1.H1";
    return settings;
  }
  VirtualPluginTest()
      : hub_context_(StaticList<SettingSpec>{}),
        hub_(hub_context_, hub_settings()),
        context_(*homesip_plugin_descriptor(),
                 {{"entities",
                   {"light.kitchen name='Kitchen light'", "binary_sensor.front_door flip_every_s=2",
                    "climate.living_room target=21 current=18 drift_per_minute=6"}}}) {
    context_.add_service<ApplianceHub>(hub_);
    plugin_ = context_.create_plugin();
  }
  FakePluginContext hub_context_;
  appliance_hub::Hub hub_;
  FakePluginContext context_;
  std::unique_ptr<Plugin> plugin_;
};

TEST_F(VirtualPluginTest, RegistersReportsAndCallsThroughTheHub) {
  EXPECT_EQ(hub_.state("light.kitchen").state, "off");
  EXPECT_EQ(hub_.state("binary_sensor.front_door").state, "off");
  const json listed = json::parse(hub_.entities_json());
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[2]["friendly_name"], "Kitchen light");

  FakeIncomingRequest incoming(
      RequestBuilder()
          .method(Method::kMessage)
          .uri("sip:light.kitchen@C1.D1.H1")
          .body("application/json", R"({"service":"turn_on","data":{"brightness":9}})")
          .build(),
      hub_context_.manual_loop());
  EXPECT_EQ(hub_.on_request(incoming), Disposition::kSuspended);
  hub_context_.manual_loop().run_pending();
  ASSERT_NE(incoming.last_reply(), nullptr);
  EXPECT_EQ(incoming.last_reply()->status, 200);
  EXPECT_EQ(json::parse(incoming.last_reply()->body)["attributes"]["brightness"], 9);
  EXPECT_EQ(hub_.state("light.kitchen").state, "on");
}

TEST_F(VirtualPluginTest, TheSensorFlipsAndTheThermostatDriftsOnTheTimer) {
  context_.manual_loop().advance(std::chrono::seconds(2));
  EXPECT_EQ(hub_.state("binary_sensor.front_door").state, "on");
  context_.manual_loop().advance(std::chrono::seconds(2));
  EXPECT_EQ(hub_.state("binary_sensor.front_door").state, "off");
  const json attributes = json::parse(hub_.state("climate.living_room").attributes_json);
  EXPECT_DOUBLE_EQ(attributes["current_temperature"].get<double>(), 18.4);
}

}  // namespace
