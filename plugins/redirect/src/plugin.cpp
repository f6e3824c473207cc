// The redirect plugin: settings and wiring; the decisions are in
// redirect_rules.cpp and jurisdiction.cpp.
#include "homesip/plugin.hpp"

#include <optional>

#include "redirect_handler.hpp"

namespace {

const homesip::SettingSpec kSettings[] = {
    {"parent_contact", homesip::SettingType::kString, "",
     "where requests for names outside this server's subtree are redirected (302); empty: 404"},
    {"redirect_methods", homesip::SettingType::kStringList, "[INVITE, MESSAGE, SUBSCRIBE, OPTIONS]",
     "request methods redirected by their Request-URI (REGISTER is always judged by its To)"},
};

class RedirectPlugin final : public homesip::Plugin {
 public:
  explicit RedirectPlugin(homesip::PluginContext& context) {
    homesip::LocationStore* store = context.location_store();
    if (!store)
      throw homesip::ConfigError("plugin",
                                 "redirect needs a location store: load a location-* plugin before it");
    const auto& s = context.settings();
    homesip::redirect::RedirectPolicy policy{s.get_string("parent_contact"),
                                             s.get_string_list("redirect_methods")};
    homesip::redirect::check_policy(policy);
    handler_.emplace(context.identity(), std::move(policy), *store, context.logger());
    context.add_request_handler(*handler_);
  }

 private:
  std::optional<homesip::redirect::RedirectHandler> handler_;
};

}  // namespace

HOMESIP_PLUGIN("redirect", "1.0.0", "Redirects REGISTER and calls along the server tree (302)", kSettings,
               RedirectPlugin)
