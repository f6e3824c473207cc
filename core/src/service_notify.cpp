#include "service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>

namespace homesip::core {

ServiceNotifier::ServiceNotifier(EventLoop& loop, std::shared_ptr<spdlog::logger> log)
    : loop_(loop), log_(std::move(log)) {}

ServiceNotifier::~ServiceNotifier() = default;

void ServiceNotifier::ready(const std::string& status) {
  const std::string state = "READY=1\nSTATUS=" + status;
  // 0: no NOTIFY_SOCKET, nothing to tell; < 0: systemd listens but the
  // message did not go (worth one line, the service will time out).
  if (const int rc = sd_notify(0, state.c_str()); rc < 0)
    log_->warn("sd_notify READY=1 failed: error {}", -rc);
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  // Half the interval, so one late tick does not make systemd kill a healthy server.
  ping_interval_ = std::chrono::microseconds(usec / 2);
  const auto every = std::max(std::chrono::milliseconds(1),
                              std::chrono::duration_cast<std::chrono::milliseconds>(ping_interval_));
  watchdog_ = loop_.start_timer(every, true, [] { sd_notify(0, "WATCHDOG=1"); });
  log_->info("systemd watchdog: a ping every {} ms", every.count());
}

void ServiceNotifier::stopping() {
  watchdog_.reset();
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

}  // namespace homesip::core
