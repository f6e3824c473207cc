// appliances-virtual: entities declared in config for demos and tests -- lights,
// switches, a thermostat drifting toward its target, a door sensor flipping on
// a timer, a cover, a lock. An ApplianceProvider (appliance.hpp): the hub does
// all the SIP; this plugin only keeps the states and reports each change.
// Threads: with any number of loops the hub calls call_service() on the main
// loop, where the ticker runs too, so the entities need no lock.
#include "homesip/plugin.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "homesip/appliance.hpp"
#include "virtual_entities.hpp"

namespace {

using namespace homesip;
using namespace homesip::appliances_virtual;

const SettingSpec kSettings[] = {
    {"entities", SettingType::kStringList, "[]",
     "one entry per entity: its id, then key=value (\"light.kitchen name='Kitchen light'\"); see README"},
};
const char* const kRequires[] = {ApplianceHub::kServiceName};

std::vector<VirtualEntity> read_entities(const Settings& settings) {
  try {
    return parse_entities(settings.get_string_list("entities"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError("entities", e.what());
  }
}

void check_settings(const Settings& settings) { read_entities(settings); }

class VirtualAppliances final : public Plugin, public ApplianceProvider {
 public:
  explicit VirtualAppliances(PluginContext& context)
      : context_(context),
        hub_(context.require<ApplianceHub>()),
        entities_(read_entities(context.settings())) {
    hub_.add_provider(*this);
    for (const VirtualEntity& entity : entities_) hub_.report_state(entity.to_state());
    // One timer for every entity's clock: thermostats drift, sensors flip.
    ticker_ = context_.loop().start_timer(std::chrono::seconds(1), true, [this] { tick(); });
  }
  ~VirtualAppliances() override { hub_.remove_provider(*this); }
  void stop() override { ticker_.reset(); }

  std::vector<EntityInfo> entities() const override {
    std::vector<EntityInfo> infos;
    for (const VirtualEntity& entity : entities_)
      infos.push_back({entity.id, entity.name, entity.services()});
    return infos;
  }

  void call_service(const ServiceCall& call, ServiceDone done) override {
    VirtualEntity* entity = find(call.entity_id);
    if (!entity) return done(ServiceResult{404, "unknown_entity", "no virtual entity " + call.entity_id, {}});
    if (std::optional<ServiceResult> refused = apply_service(*entity, call.service, call.data_json))
      return done(std::move(*refused));
    const EntityState state = entity->to_state();
    hub_.report_state(state);
    done(ServiceResult{200, "", "", state});
  }

 private:
  VirtualEntity* find(const std::string& id) {
    for (VirtualEntity& entity : entities_)
      if (entity.id == id) return &entity;
    return nullptr;
  }

  void tick() {
    ++seconds_;
    for (VirtualEntity& entity : entities_) {
      bool changed = drift_one_second(entity);
      if (entity.kind == Kind::kBinarySensor && entity.flip_every_s > 0 &&
          seconds_ % entity.flip_every_s == 0) {
        entity.state = entity.state == "on" ? "off" : "on";
        changed = true;
      }
      if (changed) hub_.report_state(entity.to_state());
    }
  }

  PluginContext& context_;
  ApplianceHub& hub_;
  std::vector<VirtualEntity> entities_;
  int64_t seconds_ = 0;
  std::unique_ptr<Timer> ticker_;
};

}  // namespace

HOMESIP_PLUGIN(
    VirtualAppliances, .name = "appliances-virtual", .version = "1.0.0",
    .summary = "entities declared in config (lights, switches, thermostat, door sensor, cover, lock)",
    .settings = kSettings, .requires_services = kRequires, .check_settings = &check_settings)
