// Settings once validated, and the one conversion of a setting's text to its
// declared type. The core fills a SettingTable from YAML, the test kit from a
// test's values; both convert scalars with canonical_setting_text, so a value
// the test kit accepts is one the core accepts.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/settings.hpp"

namespace homesip {

// The text of a scalar as the declared type keeps it: an integer in decimal
// (YAML's 0x and 0o prefixes read), a boolean as "true"/"false" (YAML 1.1's
// yes/no/on/off/y/n read too), a path made absolute, a string as given.
// nullopt with `problem` set when the text is not of that type.
inline std::optional<std::string> canonical_setting_text(SettingType type, const std::string& text,
                                                         std::string& problem) {
  switch (type) {
    case SettingType::kInteger: {
      std::string_view digits = text;
      const bool negative = !digits.empty() && digits.front() == '-';
      if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
      int base = 10;
      if (digits.starts_with("0x") || digits.starts_with("0o")) {
        base = digits[1] == 'x' ? 16 : 8;
        digits.remove_prefix(2);
      }
      uint64_t magnitude = 0;
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
      const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
          magnitude > limit) {
        problem = "expected an integer, got '" + text + "'";
        return std::nullopt;
      }
      return negative ? (magnitude == uint64_t{1} << 63 ? std::to_string(INT64_MIN)
                                                        : std::to_string(-static_cast<int64_t>(magnitude)))
                      : std::to_string(magnitude);
    }
    case SettingType::kBoolean: {
      std::string lower;
      for (char c : text) lower.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
      for (const char* yes : {"true", "yes", "on", "y"})
        if (lower == yes) return "true";
      for (const char* no : {"false", "no", "off", "n"})
        if (lower == no) return "false";
      problem = "expected true or false, got '" + text + "'";
      return std::nullopt;
    }
    case SettingType::kPath:
      if (text.empty()) {
        problem = "expected a path";
        return std::nullopt;
      }
      return std::filesystem::absolute(text).lexically_normal().string();
    default:
      return text;
  }
}

// One validated setting: its items (one for a scalar), whether the config gave
// it, and where ("file.yaml:12: plugins[1].min_expires").
struct SettingEntry {
  SettingType type = SettingType::kString;
  std::vector<std::string> items;
  bool explicitly_set = false;
  std::string where;
};

// Settings read from validated entries; reading an undeclared key or with the
// wrong type throws ConfigError, as the Settings contract says.
class SettingTable : public Settings {
 public:
  std::string get_string(std::string_view key) const override {
    return scalar(key, {SettingType::kString, SettingType::kPath});
  }
  int64_t get_int(std::string_view key) const override {
    return std::stoll(scalar(key, {SettingType::kInteger}));
  }
  bool get_bool(std::string_view key) const override {
    return scalar(key, {SettingType::kBoolean}) == "true";
  }
  std::vector<std::string> get_string_list(std::string_view key) const override {
    return entry(key, {SettingType::kStringList}).items;
  }
  bool is_set(std::string_view key) const override { return entry(key, {}).explicitly_set; }
  std::string where(std::string_view key) const override { return entry(key, {}).where; }
  std::optional<bool> service_loaded(std::string_view name) const override {
    if (!loaded_services) return std::nullopt;
    return loaded_services->count(name) > 0;
  }

  std::map<std::string, SettingEntry, std::less<>> entries;
  // The services the config's plugins provide, once the host knows them.
  std::optional<std::set<std::string, std::less<>>> loaded_services;

 private:
  const SettingEntry& entry(std::string_view key, std::initializer_list<SettingType> types) const {
    const auto it = entries.find(key);
    if (it == entries.end())
      throw ConfigError(std::string(key), "setting '" + std::string(key) + "' is not declared");
    if (types.size() && std::find(types.begin(), types.end(), it->second.type) == types.end())
      throw ConfigError(std::string(key), "setting '" + std::string(key) + "' read with the wrong type");
    return it->second;
  }
  std::string scalar(std::string_view key, std::initializer_list<SettingType> types) const {
    const SettingEntry& e = entry(key, types);
    return e.items.empty() ? std::string() : e.items.front();
  }
};

}  // namespace homesip
