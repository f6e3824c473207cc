// Logging the core lends to plugins. Messages go to the core's sink (spdlog),
// tagged with the plugin's name; plugins never configure logging themselves.
#pragma once

#include <sstream>
#include <string_view>
#include <utility>

namespace homesip {

enum class LogLevel { kTrace = 0, kDebug, kInfo, kWarn, kError };

class __attribute__((visibility("default"))) Logger {
 public:
  virtual ~Logger() = default;
  virtual bool enabled(LogLevel level) const = 0;
  virtual void write(LogLevel level, std::string_view message) = 0;

  // Convenience: log.info("bound ", aor, " for ", seconds, "s"). The
  // arguments are only formatted when the level is enabled.
  template <class... Parts>
  void log(LogLevel level, Parts&&... parts) {
    if (!enabled(level)) return;
    std::ostringstream text;
    (text << ... << std::forward<Parts>(parts));
    write(level, text.str());
  }
  template <class... P>
  void debug(P&&... p) {
    log(LogLevel::kDebug, std::forward<P>(p)...);
  }
  template <class... P>
  void info(P&&... p) {
    log(LogLevel::kInfo, std::forward<P>(p)...);
  }
  template <class... P>
  void warn(P&&... p) {
    log(LogLevel::kWarn, std::forward<P>(p)...);
  }
  template <class... P>
  void error(P&&... p) {
    log(LogLevel::kError, std::forward<P>(p)...);
  }
};

}  // namespace homesip
