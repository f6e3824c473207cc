// What a running server answers on its admin socket (homesipctl): its
// plugins, the bindings its location store holds, and its counters. Plugins
// will export commands of their own with SDK 2; these are the core's.
#pragma once

#include <chrono>

#include "admin_socket.hpp"
#include "homesip/context.hpp"
#include "homesip/location_store.hpp"

namespace homesip::core {

class PluginHost;
class SipServer;

struct AdminSources {
  const PluginHost& plugins;
  LocationStore* store;  // null: this server loads none
  const SipServer& server;
  ServerIdentity identity;
  std::chrono::steady_clock::time_point started;
};

void add_admin_commands(AdminSocket& socket, const AdminSources& sources);

// A binding as the admin socket shows it: expiry in seconds from `now`.
nlohmann::json binding_json(const Binding& binding, int64_t now);

}  // namespace homesip::core
