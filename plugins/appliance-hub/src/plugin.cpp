// The appliance-hub plugin: provides ApplianceHub (appliance.hpp) and answers
// MESSAGE, SUBSCRIBE and PUBLISH for the entities of this server's domain in
// the chain's local-services phase (after the policy authorized them, before
// the tree routes what is not ours). docs/appliances.md has the protocol.
#include "homesip/plugin.hpp"

#include <memory>
#include <string>

#include "entity_json.hpp"
#include "homesip/appliance.hpp"
#include "homesip/tree.hpp"
#include "hub.hpp"

namespace {

using namespace homesip;
using homesip::appliance_hub::Hub;
using homesip::appliance_hub::HubSettings;

const SettingSpec kSettings[] = {
    {"domain", SettingType::kString, "",
     "the entities' domain on a server without the tree plugin (with it: the tree's child domain)"},
    {"min_expires", SettingType::kInteger, "60", "shortest SUBSCRIBE/PUBLISH Expires accepted (423 below)"},
    {"max_expires", SettingType::kInteger, "3600", "longest subscription granted (longer ones are cut)"},
    {"default_expires", SettingType::kInteger, "600", "a SUBSCRIBE's Expires when it has none"},
    {"publish_expires", SettingType::kInteger, "3600", "a PUBLISH's Expires when it has none"},
    {"max_subscriptions", SettingType::kInteger, "1000", "subscriptions in all (503 past it)"},
    {"max_subscriptions_per_entity", SettingType::kInteger, "100",
     "subscriptions to one entity (503 past it)"},
    {"max_publications", SettingType::kInteger, "1000",
     "PUBLISHed states kept, and entities that PUBLISH made (503 past it; an unpublished, unwatched one goes "
     "first)"},
    {"published", SettingType::kStringList, "[]",
     "entities devices PUBLISH (sensor.door, ...); empty: any entity no device plugin serves"},
};
const char* const kProvides[] = {ApplianceHub::kServiceName};
const char* const kUses[] = {TreeService::kServiceName};
const CommandSpec kCommands[] = {
    {"entities", "", "every entity with its state, attributes, provider and watchers (JSON)"}};
const MetricSpec kMetrics[] = {
    {"service_calls_total", MetricType::kCounter, "service calls made by MESSAGE"},
    {"notifies_total", MetricType::kCounter, "NOTIFYs sent to watchers"},
    {"subscriptions", MetricType::kGauge, "subscriptions now"},
    {"publications", MetricType::kGauge, "PUBLISHed states now"},
    {"service_call_seconds", MetricType::kHistogram, "from a MESSAGE to its device plugin's answer"},
};

HubSettings read_settings(const Settings& settings) {
  HubSettings out;
  out.min_expires = integer_in_range(settings, "min_expires", 1, 86400);
  out.max_expires = integer_in_range(settings, "max_expires", out.min_expires, 86400);
  out.default_expires = integer_in_range(settings, "default_expires", out.min_expires, out.max_expires);
  out.publish_expires = integer_in_range(settings, "publish_expires", out.min_expires, 86400);
  out.max_subscriptions = integer_in_range(settings, "max_subscriptions", 0, 1000000);
  out.max_subscriptions_per_entity = integer_in_range(settings, "max_subscriptions_per_entity", 0, 1000000);
  out.max_publications = integer_in_range(settings, "max_publications", 0, 1000000);
  out.published = settings.get_string_list("published");
  for (const std::string& id : out.published)
    if (!appliance_hub::valid_entity_id(id))
      throw ConfigError("published",
                        "published entities are <domain>.<object_id> such as sensor.door, not '" + id + "'");
  return out;
}

void check_settings(const Settings& settings) {
  check_served_domain(settings);
  read_settings(settings);
}

class ApplianceHubPlugin final : public Plugin {
 public:
  explicit ApplianceHubPlugin(PluginContext& context) : hub_(context, with_domain(context)) {
    context.provide<ApplianceHub>(hub_);
    context.add_request_handler(hub_, {.phase = Phase::kLocalServices, .name = "appliance-hub"});
    context.on_command("entities", [this](const std::vector<std::string>&, CommandDone done) {
      done(true, hub_.entities_json());
    });
  }
  void stop() override { hub_.stop(); }

 private:
  static HubSettings with_domain(PluginContext& context) {
    HubSettings settings = read_settings(context.settings());
    settings.domain = served_domain(context, "domain");
    return settings;
  }
  Hub hub_;
};

}  // namespace

HOMESIP_PLUGIN(ApplianceHubPlugin, .name = "appliance-hub", .version = "1.0.0",
               .summary = "entities over SIP: MESSAGE calls a service, SUBSCRIBE watches, PUBLISH reports",
               .settings = kSettings, .provides = kProvides, .uses = kUses, .commands = kCommands,
               .metrics = kMetrics, .check_settings = &check_settings)
