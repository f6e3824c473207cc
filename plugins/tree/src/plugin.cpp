// The redirect plugin: settings, descriptor and wiring; the decisions are in
// redirect_rules.cpp and jurisdiction.cpp.
#include "homesip/plugin.hpp"

#include <optional>

#include "homesip/location_store.hpp"
#include "redirect_handler.hpp"

namespace {

using homesip::redirect::RedirectPolicy;

const homesip::SettingSpec kSettings[] = {
    {"parent_contact", homesip::SettingType::kString, "",
     "where requests for names outside this server's subtree are redirected (302); empty: 404"},
    {"redirect_methods", homesip::SettingType::kStringList, "[INVITE, MESSAGE, SUBSCRIBE, OPTIONS]",
     "request methods redirected by their Request-URI (REGISTER is always judged by its To)"},
};
const char* const kRequires[] = {homesip::LocationStore::kServiceName};

RedirectPolicy read_policy(const homesip::Settings& s) {
  RedirectPolicy policy{s.get_string("parent_contact"), s.get_string_list("redirect_methods")};
  homesip::redirect::check_policy(policy);
  return policy;
}

// `homesipd --check-config` runs this: a bad method or parent URI is a config error.
void check_settings(const homesip::Settings& s) { read_policy(s); }

class RedirectPlugin final : public homesip::Plugin {
 public:
  explicit RedirectPlugin(homesip::PluginContext& context) {
    handler_.emplace(context.identity(), read_policy(context.settings()),
                     context.require<homesip::LocationStore>(), context.logger());
    // Routing runs before the registrar: a REGISTER for a name below a child
    // server is redirected here and never bound locally.
    context.add_request_handler(*handler_, {homesip::Phase::kRouting, 0, "redirect"});
  }

 private:
  std::optional<homesip::redirect::RedirectHandler> handler_;
};

}  // namespace

HOMESIP_PLUGIN(RedirectPlugin, .name = "redirect", .version = "2.0.0",
               .summary = "Redirects REGISTER and calls along the server tree (302)", .settings = kSettings,
               .requires_services = kRequires, .check_settings = &check_settings)
