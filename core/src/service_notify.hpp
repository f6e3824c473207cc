// systemd's service protocol (sd_notify): READY=1 once serving, STOPPING=1 at
// shutdown, and WATCHDOG=1 from a loop timer at half the watchdog interval,
// so a stuck loop stops the pings and systemd restarts the server. Every call
// is a no-op without NOTIFY_SOCKET (not started by systemd).
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <memory>
#include <string>

#include "homesip/loop.hpp"

namespace homesip::core {

class ServiceNotifier {
 public:
  ServiceNotifier(EventLoop& loop, std::shared_ptr<spdlog::logger> log);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 with STATUS=`status`; starts the watchdog pings when systemd
  // asked for them (WATCHDOG_USEC, and WATCHDOG_PID naming this process if set).
  void ready(const std::string& status);
  // STOPPING=1; the watchdog pings stop.
  void stopping();
  // Half the watchdog interval while pinging, else zero (for logs and tests).
  std::chrono::microseconds ping_interval() const { return ping_interval_; }

 private:
  EventLoop& loop_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<Timer> watchdog_;
  std::chrono::microseconds ping_interval_{0};
};

}  // namespace homesip::core
