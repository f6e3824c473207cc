// The smallest appliance plugin: one entity, switch.fan, that the
// appliance-hub plugin serves over SIP (MESSAGE, SUBSCRIBE; docs/appliances.md).
// It knows nothing of SIP: it declares its entity, answers a service call and
// reports every change, and the hub tells the watchers.
#include <homesip/homesip.hpp>

namespace {
const char* const kRequires[] = {homesip::ApplianceHub::kServiceName};

class Fan final : public homesip::Plugin, public homesip::ApplianceProvider {
 public:
  explicit Fan(homesip::PluginContext& context) : hub_(context.require<homesip::ApplianceHub>()) {
    hub_.add_provider(*this);
    hub_.report_state(state());
  }
  ~Fan() override { hub_.remove_provider(*this); }

  std::vector<homesip::EntityInfo> entities() const override {
    return {{"switch.fan", "Ceiling fan", {"turn_on", "turn_off"}}};
  }
  // Main loop. Answer `done` once -- later is fine (from any thread) when the device must answer first.
  void call_service(const homesip::ServiceCall& call, homesip::ServiceDone done) override {
    if (call.data_json != "{}") return done({400, "invalid_data", "the fan's services take no data", {}});
    on_ = call.service == "turn_on";
    hub_.report_state(state());  // every change: the hub tells the watchers
    done({200, "", "", state()});
  }

 private:
  homesip::EntityState state() const { return {"switch.fan", on_ ? "on" : "off", "{}", 0}; }
  homesip::ApplianceHub& hub_;
  bool on_ = false;
};
}  // namespace

HOMESIP_PLUGIN(Fan, .name = "fan", .version = "1.0.0", .summary = "a fan as switch.fan",
               .requires_services = kRequires)
