// What the core lends a plugin while it is created: its settings, logging, the
// loops, this server's own addresses, the request chain, the service
// registry, the SIP client, and its commands and metrics. Where the server
// stands in the management network is not the core's business: the `tree`
// plugin offers it as a service (tree.hpp).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "homesip/admin.hpp"
#include "homesip/client.hpp"
#include "homesip/handler.hpp"
#include "homesip/http.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"
#include "homesip/settings.hpp"
#include "homesip/uri.hpp"

namespace homesip {

// Services: an interface with a versioned name in `static constexpr const char*
// kServiceName` (LocationStore, UserStore, ...). A plugin lists the services it
// provides, requires and may use in its descriptor; the host creates providers
// before the plugins that need them and refuses a config where a required
// service has no provider or a service has two. Calls to a service may come
// from any loop thread (see loop.hpp).
class __attribute__((visibility("default"))) PluginContext {
 public:
  virtual ~PluginContext() = default;

  virtual const Settings& settings() const = 0;
  virtual Logger& logger() = 0;
  // The main loop: where the plugin is created, started, stopped and its
  // commands run. Timers for the plugin's own housekeeping go here.
  virtual EventLoop& loop() = 0;
  // The loop whose thread is calling (a request's loop, for a service called
  // from a handler); the main loop when called from no loop thread.
  virtual EventLoop& current_loop() = 0;

  // Where other servers and phones reach this server, with `user` as the
  // user part: built from the first listener ("sip:H1@127.0.0.1:5130",
  // ";transport=tcp" for TCP, "sips:" for TLS).
  virtual std::string contact_uri(std::string_view user) const = 0;
  // True when the URI's host and port (5060 when absent, 5061 for sips:)
  // name one of this server's listeners: a request or Route addressed to this
  // server by its address rather than by a name.
  virtual bool addresses_me(const UriView& uri) const = 0;

  // Puts `handler` into the request chain at `placement`. The plugin keeps
  // ownership; the handler must live until the plugin is destroyed.
  virtual void add_request_handler(RequestHandler& handler, HandlerPlacement placement) = 0;

  // Offers `service` under `name`, which the descriptor lists in `provides`.
  // Throws std::logic_error otherwise.
  virtual void provide_service(std::string_view name, void* service) = 0;
  // The service `name` (listed in the descriptor's `requires_services` or
  // `uses`), or nullptr when no plugin provides it.
  virtual void* find_service(std::string_view name) = 0;

  // Sends requests; on any loop thread (callbacks on the caller's loop). Keep
  // it from creation on, but send from Plugin::start() on: before the server
  // listens, send() throws std::logic_error.
  virtual SipClient& client() = 0;

  // Binds command `name`, declared in the descriptor's `commands`. Throws
  // std::logic_error for an undeclared name.
  virtual void on_command(std::string_view name, CommandHandler handler) = 0;
  // The metric `name` declared in the descriptor's `metrics` with that type.
  // Throws std::logic_error otherwise.
  virtual Counter counter(std::string_view name) = 0;
  virtual Gauge gauge(std::string_view name) = 0;

  // Since SDK 3.2 (appended: a plugin built for 3.0 or 3.1 loads unchanged).
  // The histogram `name` declared in the descriptor's `metrics` as
  // MetricType::kHistogram. Throws std::logic_error otherwise.
  virtual Histogram histogram(std::string_view name) = 0;
  // Serves GET and HEAD of `path` on the HTTP listener ("/status"; a path
  // ending in '/' serves everything under it, the longest claim winning).
  // Throws std::logic_error for a path the core keeps (/metrics, /api/) or
  // another plugin claimed. Without an HTTP listener the handler is never called.
  virtual void on_http(std::string_view path, HttpHandler handler) = 0;

  template <class Service>
  void provide(Service& service) {
    provide_service(Service::kServiceName, static_cast<void*>(&service));
  }
  // A service this plugin requires: present, since the host checked.
  template <class Service>
  Service& require() {
    void* service = find_service(Service::kServiceName);
    if (!service) throw std::logic_error(std::string("no plugin provides ") + Service::kServiceName);
    return *static_cast<Service*>(service);
  }
  // A service this plugin may use, or nullptr.
  template <class Service>
  Service* find() {
    return static_cast<Service*>(find_service(Service::kServiceName));
  }
};

}  // namespace homesip
