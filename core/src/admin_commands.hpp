// What a running server answers on its admin socket (homesipctl): its
// plugins (services, handlers, commands, metrics), the bindings the location
// store service holds, its counters and the plugins' metrics, and every
// command a plugin declared and bound, as "<plugin>.<name>".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "admin_socket.hpp"
#include "homesip/context.hpp"
#include "homesip/location_store.hpp"

namespace homesip::core {

class PluginHost;
class SipServer;
class SofiaEventLoop;

struct AdminSources {
  PluginHost& plugins;
  SipServer& server;
  SofiaEventLoop& loop;
  std::string server_name;  // the first listener ("udp:127.0.0.1:5130"): the core knows no tree name
  std::chrono::steady_clock::time_point started;
};

void add_admin_commands(CommandRegistry& commands, const AdminSources& sources);

// "homesip_<plugin>_<metric>", with anything but letters and digits as '_'
// (Prometheus' rule for names).
std::string metric_name(std::string_view plugin, std::string_view metric);

// A binding as the admin socket shows it: expiry in seconds from `now`.
nlohmann::json binding_json(const Binding& binding, int64_t now);

}  // namespace homesip::core
