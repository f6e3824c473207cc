// A plugin's settings: declared by the plugin (so the core can validate a
// config, print defaults and reject unknown keys before any plugin runs), then
// read through a typed view.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace homesip {

enum class SettingType : uint32_t {
  kString = 0,
  kInteger = 1,     // signed 64-bit
  kBoolean = 2,     // true/false
  kStringList = 3,  // a YAML sequence of scalars
  kPath = 4,        // a string; relative paths resolve against the working directory
};

// One declared setting. Plain data: it lives in the plugin's read-only
// memory and is read by the core through the plugin descriptor.
struct SettingSpec {
  const char* key;  // e.g. "min_expires"
  SettingType type;
  const char* default_value;  // textual default, or nullptr when required
  const char* help;           // one line, shown by `homesipd --describe-plugin`
};

// Thrown by a plugin (from its factory or by Settings) when its settings make
// no sense; the core reports it with the config file, line and key.
class __attribute__((visibility("default"))) ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& what) : std::runtime_error(what), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// Typed access to the plugin's validated settings (declared defaults filled in).
// Asking for an undeclared key or the wrong type throws ConfigError.
class __attribute__((visibility("default"))) Settings {
 public:
  virtual ~Settings() = default;
  virtual std::string get_string(std::string_view key) const = 0;
  virtual int64_t get_int(std::string_view key) const = 0;
  virtual bool get_bool(std::string_view key) const = 0;
  virtual std::vector<std::string> get_string_list(std::string_view key) const = 0;
  // True when the config file (or --set) gave the key; false when defaulted.
  virtual bool is_set(std::string_view key) const = 0;
  // "file.yaml:12: plugins[1].min_expires" — for error messages about a value.
  virtual std::string where(std::string_view key) const = 0;
  // Whether a plugin of the same config provides service `name` (a
  // LocationStore, the tree), for the checks it changes: a domain the tree
  // plugin gives must not be set again. nullopt where that is not known (the
  // test kit). The core and the SDK's SettingTable implement Settings, never
  // a plugin, so this could be appended. (3.2)
  virtual std::optional<bool> service_loaded(std::string_view name) const {
    (void)name;
    return std::nullopt;
  }
};

// The integer setting `key`, which must lie in [low, high]; otherwise throws
// ConfigError naming the key and the range (the core adds file and line).
// Since SDK 1.2; inline, so it needs nothing from the core.
inline int64_t integer_in_range(const Settings& settings, std::string_view key, int64_t low, int64_t high) {
  const int64_t value = settings.get_int(key);
  if (value < low || value > high)
    throw ConfigError(std::string(key), std::string(key) + " must be between " + std::to_string(low) +
                                            " and " + std::to_string(high) + ", not " +
                                            std::to_string(value));
  return value;
}

}  // namespace homesip
