// Appliances (since SDK 3.2): the home's devices as entities in Home
// Assistant's vocabulary, reached through SIP. An entity is addressed as
// sip:<entity_id>@<family domain>, e.g. sip:light.kitchen@C1.D1.H1, where
// entity_id is "<domain>.<object_id>" with Home Assistant's domains (light,
// switch, sensor, binary_sensor, climate, cover, lock).
//
// Two roles:
//   - the `appliance-hub` plugin provides ApplianceHub ("homesip.appliance-hub/1")
//     and does all the SIP: MESSAGE with a JSON body calls a service,
//     SUBSCRIBE/NOTIFY lets anyone watch an entity's state, PUBLISH lets a
//     device push its state (docs/appliances.md has the bodies and the event
//     package);
//   - an appliance plugin (appliances-virtual, mqtt-bridge, yours) writes the
//     device logic only: it registers an ApplianceProvider with the hub for its
//     entities, handles service calls, and reports every state change.
// JSON travels as text (attributes, service data) so the SDK carries no JSON
// library's types; nlohmann-json reads and writes it in a plugin.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip {

// Layout frozen with the service's name ("homesip.appliance-hub/1").
struct EntityState {
  std::string entity_id;               // "light.kitchen"
  std::string state;                   // "on", "off", "21.5", "open", "locked", "unavailable", ...
  std::string attributes_json = "{}";  // a JSON object: {"brightness": 128, "friendly_name": "Kitchen"}
  int64_t last_changed_ms = 0;         // Unix time of the last change of `state`, in ms; 0: the hub sets it
};

struct EntityInfo {
  std::string entity_id;              // "light.kitchen"
  std::string friendly_name;          // "Kitchen light"; empty: the entity id
  std::vector<std::string> services;  // what it accepts: "turn_on", "turn_off", "toggle", ...
};

struct ServiceCall {
  std::string entity_id;         // "light.kitchen"
  std::string service;           // "turn_on"
  std::string data_json = "{}";  // a JSON object: {"brightness": 200}
  std::string caller;            // the authenticated AOR that asked ("U1@C1.D1.H1"); empty: none
};

// How a service call ended. On success `state` is the entity's state after
// the call; otherwise `status` is the SIP status the caller gets (400 for bad
// data, 404 for an unknown entity, 503 for a device that does not answer) and
// `error` a short code ("invalid_data", "unavailable") with `message` for people.
struct ServiceResult {
  int status = 200;
  std::string error;
  std::string message;
  EntityState state;
};

// Called once, from any thread.
using ServiceDone = std::function<void(ServiceResult result)>;

// Implemented by an appliance plugin, registered with ApplianceHub::add_provider.
// Called on the main loop thread.
class __attribute__((visibility("default"))) ApplianceProvider {
 public:
  virtual ~ApplianceProvider() = default;
  // The entities this provider serves; asked when it is added and after
  // ApplianceHub::entities_changed().
  virtual std::vector<EntityInfo> entities() const = 0;
  // Carries out `call` for one of its entities (asynchronously if it must wait
  // for the device) and answers through `done`. The hub has checked that the
  // entity is this provider's; the provider checks the service and its data.
  virtual void call_service(const ServiceCall& call, ServiceDone done) = 0;
};

class __attribute__((visibility("default"))) ApplianceHub {
 public:
  static constexpr const char* kServiceName = "homesip.appliance-hub/1";
  virtual ~ApplianceHub() = default;

  // Adds `provider` (kept by the caller until remove_provider or the plugin's
  // destruction). Throws std::logic_error for an entity id another provider serves
  // or one that is not "<domain>.<object_id>". Main loop thread.
  virtual void add_provider(ApplianceProvider& provider) = 0;
  virtual void remove_provider(ApplianceProvider& provider) = 0;
  // The provider's list of entities changed (a device appeared). Main loop thread.
  virtual void entities_changed(ApplianceProvider& provider) = 0;

  // An entity's new state (a device reported, a timer fired): the hub keeps
  // it and sends a NOTIFY to every watcher. Any thread.
  virtual void report_state(const EntityState& state) = 0;
  // The entity's last reported state, or state "unknown" when never reported.
  // Any loop thread (the hub's tables are the main loop's; others read under a lock).
  virtual EntityState state(std::string_view entity_id) const = 0;
};

}  // namespace homesip
