// The core's HTTP listener (server.http): /metrics (Prometheus text), /api/
// (every admin command as JSON, from the admin socket's own registry) and
// the pages plugins claimed with PluginContext::on_http. cpp-httplib serves
// it on threads of its own; every request's work is handed to the main loop
// and waited for, bounded (5 s, then 504). With a token configured a request
// brings it as "Authorization: Bearer TOKEN" or the cookie homesip_token;
// "?token=TOKEN" on any GET sets that cookie and redirects to the same page
// without it, so a person opens the page from a link once.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <memory>
#include <string>

#include "config.hpp"

namespace homesip::core {

class CommandRegistry;
class PluginHost;
class SofiaEventLoop;
struct AdminSources;

class HttpListener {
 public:
  // Binds settings.host:settings.port and starts serving. Throws
  // std::runtime_error naming the address when it cannot bind. `commands`,
  // `sources` and what they point to outlive the listener.
  HttpListener(const HttpSettings& settings, SofiaEventLoop& loop, const CommandRegistry& commands,
               const AdminSources& sources, std::shared_ptr<spdlog::logger> log,
               std::chrono::milliseconds answer_timeout = std::chrono::seconds(5));
  // Stops serving: requests still waiting for the loop get 503 at once.
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  uint16_t port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Equal texts, in a time that does not depend on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace homesip::core
