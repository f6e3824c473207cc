// What the core lends a plugin while it is created: its settings, logging, the
// event loop, the server's identity, and the registry through which plugins
// offer capabilities to the core and to each other.
#pragma once

#include <string>

#include "homesip/handler.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"
#include "homesip/settings.hpp"

namespace homesip {

// This server's SIP identity: name "H1", domain "C1.D1" -> "H1@C1.D1".
struct ServerIdentity {
  std::string name;
  std::string domain;
  std::string aor() const { return name + "@" + domain; }
  // The domain this server's children and users live in: "C1.D1.H1".
  std::string child_domain() const { return domain.empty() ? name : domain + "." + name; }
};

class __attribute__((visibility("default"))) PluginContext {
 public:
  virtual ~PluginContext() = default;

  virtual const Settings& settings() const = 0;
  virtual Logger& logger() = 0;
  virtual EventLoop& loop() = 0;
  virtual const ServerIdentity& identity() const = 0;

  // Adds `handler` to the request chain, after the handlers of plugins loaded
  // earlier. The plugin keeps ownership; it must outlive the plugin's stop().
  virtual void add_request_handler(RequestHandler& handler) = 0;

  // Offers `store` as the server's location store (one per server).
  virtual void provide_location_store(LocationStore& store) = 0;
  // The location store a plugin loaded earlier provided, or nullptr.
  virtual LocationStore* location_store() = 0;
};

}  // namespace homesip
