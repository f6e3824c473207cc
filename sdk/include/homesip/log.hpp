// Logging the core lends to plugins. Messages go to the core's sink (spdlog),
// tagged with the plugin's name; plugins never configure logging themselves.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace homesip {

// What a sender wrote, made safe for one log line that a person or fail2ban
// reads: cut at 128 characters ("..." after), and anything but letters,
// digits and "-_.!~*'()&=+$,;?/@" %-escaped, so it can neither end the line
// nor forge a field. (3.1)
inline std::string log_safe(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text.substr(0, 128)) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-_.!~*'()&=+$,;?/@").find(c) != std::string_view::npos;
    if (safe) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
      out.push_back(kHex[static_cast<unsigned char>(c) & 0x0f]);
    }
  }
  if (text.size() > 128) out += "...";
  return out;
}

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
