// Where this server stands in the paper's management network, offered by the
// `tree` plugin as a service. Other plugins use it to learn their own domain
// (the registrar serves the tree's child domain, a store lists the family's
// users) without a second place in the config saying it. A server without the
// tree plugin is a plain registrar and this service is absent: plugins list it
// under `uses` and find<TreeService>() it.
#pragma once

#include <optional>
#include <string>

#include "homesip/context.hpp"
#include "homesip/uri.hpp"

namespace homesip {

// A server's name in the tree: name "H1", domain "C1.D1" -> "H1@C1.D1"; the
// top server has an empty domain ("C1@").
struct ServerIdentity {
  std::string name;
  std::string domain;
  std::string aor() const { return name + "@" + domain; }
  // The domain this server's children and users live in: "C1.D1.H1".
  std::string child_domain() const { return domain.empty() ? name : domain + "." + name; }
};

class __attribute__((visibility("default"))) TreeService {
 public:
  static constexpr const char* kServiceName = "homesip.tree/1";
  virtual ~TreeService() = default;
  // This server's name and domain, as configured in the tree plugin's block.
  virtual const ServerIdentity& self() const = 0;
};

// The domain a plugin serves: with the tree plugin its child domain (one
// place says where a server stands), without it the plugin's own `setting`.
// Both or neither: ConfigError naming the setting. The plugin lists
// TreeService under `uses`. (3.1)
inline std::string served_domain(PluginContext& context, const std::string& setting = "domain") {
  const std::string configured = context.settings().get_string(setting);
  const auto* tree = context.find<TreeService>();
  if (tree && !configured.empty())
    throw ConfigError(
        setting, setting + " comes from the tree plugin (" + tree->self().child_domain() + "): remove it");
  if (tree) return tree->self().child_domain();
  if (configured.empty())
    throw ConfigError(setting, setting + " is needed on a server without the tree plugin");
  return configured;
}

// served_domain()'s rule for check_settings, before any plugin exists: the
// setting must be empty when the config loads the tree plugin and given when
// it does not (as far as the host tells: Settings::service_loaded); a given
// one must be a host name. (3.2)
inline void check_served_domain(const Settings& settings, const std::string& setting = "domain") {
  const std::optional<bool> tree = settings.service_loaded(TreeService::kServiceName);
  if (!tree) return;
  const std::string value = settings.get_string(setting);
  const bool configured = !value.empty();
  const std::string text = "sip:" + value;  // the URI's views point into it
  const std::optional<UriView> uri = parse_uri(text);
  if (configured && (!uri || uri->host != value))
    throw ConfigError(setting, setting + " must be a domain such as C1.D1.H1, not '" + value + "'");
  if (*tree && configured)
    throw ConfigError(setting, setting + " comes from the tree plugin (its child domain): remove it");
  if (!*tree && !configured)
    throw ConfigError(setting, setting + " is needed on a server without the tree plugin");
}

}  // namespace homesip
