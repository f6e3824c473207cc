// Logging the core lends to plugins. Messages go to the core's sink (spdlog),
// tagged with the plugin's name; plugins never configure logging themselves.
#pragma once

#include <atomic>
#include <cstdint>
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

// The one line a plugin writes for a request it refuses (a 403, a 404), the
// same key=value fields in every plugin for journald and fail2ban, e.g.
//   refused method=INVITE aor=U1@C1.D1.H1 source=udp:192.0.2.7:5060 status=403 reason="Not Allowed"
// `method` and `aor` are what the sender wrote (made safe here); `source` is
// the transport's address (SourceAddress::text()); `reason` the plugin's own
// words, quoted, with quotes, backslashes and control characters escaped. (3.2)
inline std::string refusal_text(std::string_view method, std::string_view aor, std::string_view source,
                                int status, std::string_view reason) {
  std::string out = "refused method=" + log_safe(method) + " aor=" + log_safe(aor) + " source=";
  out += source;
  out += " status=" + std::to_string(status) + " reason=\"";
  for (const char c : reason.substr(0, 128)) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[static_cast<unsigned char>(c) >> 4];
      out += kHex[static_cast<unsigned char>(c) & 0x0f];
    } else {
      out += c;
    }
  }
  out += '"';
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

// A failure that lasts (a store or directory down) logged as two warn lines,
// when it starts and when it ends, not one per request it fails: an outage
// under load wrote 99,500 lines in seven seconds. Thread-safe. (3.2)
//   OutageLog outage(log, "location store");
//   outage.failed("503 to REGISTER U1@C1.D1.H1");   // warns on the first failure only
//   outage.recovered();                              // warns once, with the count
class OutageLog {
 public:
  OutageLog(Logger& log, std::string what) : log_(log), what_(std::move(what)) {}
  // The first failure after a success (or ever) writes "<what> unavailable:
  // <detail>"; later ones are only counted.
  void failed(std::string_view detail) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    if (!down_.exchange(true))
      log_.warn(what_, " unavailable: ", detail, "; further failures are counted until it is back");
  }
  // A success: ends an outage with "<what> available again after N failures".
  void recovered() {
    if (!down_.load(std::memory_order_relaxed) || !down_.exchange(false)) return;
    log_.warn(what_, " available again after ", failures_.exchange(0), " failures");
  }
  bool down() const { return down_.load(); }

 private:
  Logger& log_;
  std::string what_;
  std::atomic<bool> down_{false};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace homesip
