// The status-page plugin: serves the live status page at "/" and its files
// under "/status/" on the core's HTTP listener (server.http). The browser does
// the work: the page polls the core's /api/ (stats, plugins, tree.tree,
// bindings, location-sqlite.users, any *.entities) and draws what is there.
#include "homesip/plugin.hpp"

#include <string>

#include "homesip/tree.hpp"
#include "status_page.hpp"

namespace {

using namespace homesip;
using namespace homesip::status_page;

const char* const kUses[] = {TreeService::kServiceName};

void check_settings(const Settings& settings) { read_page_settings(settings); }

// The heading when `title` is not set: where this server stands in the tree
// ("H1@C1.D1", the top's bare "C1"), or its first listener without the tree.
std::string default_title(PluginContext& context) {
  if (const auto* tree = context.find<TreeService>()) {
    const ServerIdentity& me = tree->self();
    return me.domain.empty() ? me.name : me.aor();
  }
  const std::string contact = context.contact_uri("");
  const auto colon = contact.find(':');
  return colon == std::string::npos ? contact : contact.substr(colon + 1);
}

class StatusPagePlugin final : public Plugin {
 public:
  explicit StatusPagePlugin(PluginContext& context) : settings_(read_page_settings(context.settings())) {
    if (settings_.title.empty()) settings_.title = default_title(context);
    // Answers come from memory at once: nothing here waits on the loop.
    const HttpHandler page = [this](const HttpRequest& request, HttpDone done) {
      done(serve(request.path, settings_));
    };
    context.on_http("/", page);
    context.on_http("/status/", page);
  }

 private:
  PageSettings settings_;
};

}  // namespace

HOMESIP_PLUGIN(StatusPagePlugin, .name = "status-page", .version = "1.0.0",
               .summary = "a live status page of this server on the HTTP listener (server.http)",
               .settings = kPageSettingSpecs, .uses = kUses, .check_settings = check_settings)
