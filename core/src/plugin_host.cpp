#include "plugin_host.hpp"

#include <spdlog/spdlog.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <filesystem>
#include <map>
#include <set>

namespace homesip::core {

namespace fs = std::filesystem;

// Validated settings of one plugin: declared defaults filled in, types checked.
class SettingsImpl final : public Settings {
 public:
  struct Value {
    std::vector<std::string> items;  // one item for scalars
    bool explicitly_set = false;
    std::string where;
  };

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
    return value(key, {SettingType::kStringList}).items;
  }
  bool is_set(std::string_view key) const override { return value(key, {}).explicitly_set; }
  std::string where(std::string_view key) const override { return value(key, {}).where; }

  std::map<std::string, std::pair<SettingType, Value>, std::less<>> values;

 private:
  const Value& value(std::string_view key, std::initializer_list<SettingType> types) const {
    auto it = values.find(key);
    if (it == values.end())
      throw ConfigError(std::string(key), "setting '" + std::string(key) + "' is not declared");
    if (types.size() && std::find(types.begin(), types.end(), it->second.first) == types.end())
      throw ConfigError(std::string(key), "setting '" + std::string(key) + "' read with the wrong type");
    return it->second.second;
  }
  std::string scalar(std::string_view key, std::initializer_list<SettingType> types) const {
    const auto& v = value(key, types);
    return v.items.empty() ? std::string() : v.items.front();
  }
};

namespace {

class PluginLogger final : public Logger {
 public:
  explicit PluginLogger(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}
  bool enabled(LogLevel level) const override { return log_->should_log(to_spdlog(level)); }
  void write(LogLevel level, std::string_view message) override {
    log_->log(to_spdlog(level), "{}", message);
  }

 private:
  static spdlog::level::level_enum to_spdlog(LogLevel l) {
    switch (l) {
      case LogLevel::kTrace:
        return spdlog::level::trace;
      case LogLevel::kDebug:
        return spdlog::level::debug;
      case LogLevel::kInfo:
        return spdlog::level::info;
      case LogLevel::kWarn:
        return spdlog::level::warn;
      default:
        return spdlog::level::err;
    }
  }
  std::shared_ptr<spdlog::logger> log_;
};

const char* type_name(SettingType t) {
  switch (t) {
    case SettingType::kString:
      return "a string";
    case SettingType::kInteger:
      return "an integer";
    case SettingType::kBoolean:
      return "true or false";
    case SettingType::kStringList:
      return "a list of strings";
    case SettingType::kPath:
      return "a path";
  }
  return "?";
}

std::string where_of(const std::string& file, const YAML::Node& node, const std::string& fallback) {
  return node.Mark().line >= 0 ? file + ":" + std::to_string(node.Mark().line + 1) : fallback;
}

// Converts one YAML value to the declared type, or returns an error text.
std::string convert(const YAML::Node& node, SettingType type, std::vector<std::string>& items) {
  if (type == SettingType::kStringList) {
    if (node.IsScalar()) {
      items.push_back(node.Scalar());
      return {};
    }
    if (!node.IsSequence()) return "expected a list of strings";
    for (const auto& item : node) {
      if (!item.IsScalar()) return "expected a list of strings";
      items.push_back(item.Scalar());
    }
    return {};
  }
  if (!node.IsScalar()) return std::string("expected ") + type_name(type);
  const std::string& text = node.Scalar();
  if (type == SettingType::kInteger) {
    int64_t v = 0;
    if (!YAML::convert<int64_t>::decode(node, v)) return "expected an integer, got '" + text + "'";
    items.push_back(std::to_string(v));
    return {};
  }
  if (type == SettingType::kBoolean) {
    bool b = false;
    if (!YAML::convert<bool>::decode(node, b)) return "expected true or false, got '" + text + "'";
    items.push_back(b ? "true" : "false");
    return {};
  }
  if (type == SettingType::kPath) {
    if (text.empty()) return "expected a path";
    items.push_back(fs::absolute(text).lexically_normal().string());
    return {};
  }
  items.push_back(text);
  return {};
}

std::unique_ptr<SettingsImpl> validate_settings(const PluginDescriptor& d, const PluginEntry& entry,
                                                const std::string& file) {
  auto settings = std::make_unique<SettingsImpl>();
  auto origin = [&](const std::string& key, const YAML::Node& node) {
    for (const auto& [k, o] : entry.overridden)
      if (k == key) return o;
    return where_of(file, node, entry.where);
  };
  auto fail = [&](const std::string& where, const std::string& key, const std::string& problem) {
    throw ConfigFileError(where + ": " + entry.key + "." + key + ": " + problem);
  };
  std::map<std::string, const SettingSpec*> declared;
  for (size_t i = 0; i < d.settings_count; ++i) declared[d.settings[i].key] = &d.settings[i];

  for (const auto& kv : entry.settings) {
    const auto key = kv.first.as<std::string>();
    if (key == "plugin") continue;
    auto spec = declared.find(key);
    if (spec == declared.end()) {
      std::string known;
      for (const auto& [k, s] : declared) known += (known.empty() ? "" : ", ") + k;
      fail(origin(key, kv.first), key,
           "unknown key for plugin '" + entry.name + "'" +
               (known.empty() ? " (it takes no settings)" : " (known: " + known + ")"));
    }
    SettingsImpl::Value value;
    value.explicitly_set = true;
    value.where = origin(key, kv.second) + ": " + entry.key + "." + key;
    const std::string problem = convert(kv.second, spec->second->type, value.items);
    if (!problem.empty()) fail(origin(key, kv.second), key, problem);
    settings->values[key] = {spec->second->type, std::move(value)};
  }
  for (const auto& [key, spec] : declared) {
    if (settings->values.count(key)) continue;
    if (!spec->default_value) fail(entry.where, key, std::string("missing (") + spec->help + ")");
    SettingsImpl::Value value;
    value.where = entry.where + ": " + entry.key + "." + key + " (default)";
    const YAML::Node parsed = spec->type == SettingType::kStringList
                                  ? YAML::Load(spec->default_value)
                                  : YAML::Node(std::string(spec->default_value));
    if ((spec->type == SettingType::kStringList && parsed.IsNull()) ||
        (spec->type == SettingType::kPath && std::string_view(spec->default_value).empty())) {
      // An empty default list, or an optional path left unset (reads as "").
    } else if (auto problem = convert(parsed, spec->type, value.items); !problem.empty()) {
      fail(entry.where, key, "the plugin's own default is invalid: " + problem);
    }
    settings->values[key] = {spec->type, std::move(value)};
  }
  return settings;
}

}  // namespace

class PluginContextImpl final : public PluginContext {
 public:
  PluginContextImpl(const Settings& settings, std::shared_ptr<spdlog::logger> log, EventLoop& loop,
                    const ServerIdentity& identity, CapabilityRegistry& registry, std::string plugin)
      : settings_(settings),
        logger_(std::move(log)),
        loop_(loop),
        identity_(identity),
        registry_(registry),
        plugin_(std::move(plugin)) {}
  const Settings& settings() const override { return settings_; }
  Logger& logger() override { return logger_; }
  EventLoop& loop() override { return loop_; }
  const ServerIdentity& identity() const override { return identity_; }
  void add_request_handler(RequestHandler& handler) override { registry_.add_request_handler(handler); }
  void provide_location_store(LocationStore& store) override {
    registry_.provide_location_store(store, plugin_);
  }
  LocationStore* location_store() override { return registry_.location_store(); }

 private:
  const Settings& settings_;
  PluginLogger logger_;
  EventLoop& loop_;
  const ServerIdentity& identity_;
  CapabilityRegistry& registry_;
  std::string plugin_;
};

LoadedPlugin::LoadedPlugin() = default;
LoadedPlugin::LoadedPlugin(LoadedPlugin&&) noexcept = default;
LoadedPlugin::~LoadedPlugin() {
  // The object first: its code lives in the library.
  instance.reset();
  context.reset();
}

void check_descriptor(const PluginDescriptor& d, const std::string& name, const std::string& path) {
  const auto version = [](uint32_t major, uint32_t minor) {
    return std::to_string(major) + "." + std::to_string(minor);
  };
  const std::string ours = version(HOMESIP_SDK_VERSION_MAJOR, HOMESIP_SDK_VERSION_MINOR);
  const std::string theirs = version(d.abi_major, d.abi_minor);
  if (d.abi_major != HOMESIP_SDK_VERSION_MAJOR)
    throw PluginError("plugin '" + name + "' (" + path + ") was built for homesip SDK " + theirs +
                      ", but this homesipd provides SDK " + ours + ": rebuild the plugin against SDK " +
                      std::to_string(HOMESIP_SDK_VERSION_MAJOR) + ".x");
  if (d.abi_minor > HOMESIP_SDK_VERSION_MINOR)
    throw PluginError("plugin '" + name + "' (" + path + ") needs homesip SDK " + theirs +
                      ", newer than this homesipd's SDK " + ours + ": upgrade homesipd");
  if (!d.toolchain || std::string(d.toolchain) != HOMESIP_SDK_TOOLCHAIN)
    throw PluginError("plugin '" + name + "' (" + path + ") was built with toolchain '" +
                      (d.toolchain ? d.toolchain : "?") +
                      "', homesipd with '" HOMESIP_SDK_TOOLCHAIN
                      "': rebuild it with the same compiler and C++ ABI");
  if (!d.name || name != d.name)
    throw PluginError("plugin file " + path + " calls itself '" + (d.name ? d.name : "") + "', not '" + name +
                      "'");
  if (!d.create) throw PluginError("plugin '" + name + "' (" + path + ") has no factory");
}

PluginHost::PluginHost(std::vector<std::string> search_dirs, std::string config_file)
    : dirs_(search_dirs.empty() ? default_dirs() : std::move(search_dirs)),
      config_file_(std::move(config_file)) {}

PluginHost::~PluginHost() { destroy(); }

std::vector<std::string> PluginHost::default_dirs() {
  std::vector<std::string> dirs;
  boost::system::error_code ec;
  const auto exe = boost::dll::program_location(ec);
  if (!ec)
    dirs.push_back((fs::path(exe.string()).parent_path().parent_path() / "lib/homesip/plugins").string());
  dirs.push_back(HOMESIP_PLUGIN_INSTALL_DIR);
  return dirs;
}

std::string PluginHost::find(const std::string& name) const {
  for (const auto& dir : dirs_) {
    const fs::path candidate = fs::path(dir) / (name + ".so");
    if (fs::exists(candidate)) return candidate.string();
  }
  return {};
}

PluginInfo PluginHost::inspect(const std::string& name) const {
  PluginInfo info{name, find(name), nullptr, nullptr};
  if (info.path.empty()) throw PluginError("plugin '" + name + "' not found");
  try {
    info.library = std::make_shared<boost::dll::shared_library>(
        info.path, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginError("plugin '" + name + "' (" + info.path + ") cannot be loaded: " + e.what());
  }
  if (!info.library->has(kPluginEntrySymbol)) throw PluginError(info.path + " is not a homesip plugin");
  info.descriptor = info.library->get<const PluginDescriptor*()>(kPluginEntrySymbol)();
  if (!info.descriptor) throw PluginError("plugin '" + name + "' returned no descriptor");
  check_descriptor(*info.descriptor, name, info.path);
  return info;
}

std::vector<std::string> PluginHost::available() const {
  std::set<std::string> names;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    for (const auto& file : fs::directory_iterator(dir, ec))
      if (file.path().extension() == ".so") names.insert(file.path().stem().string());
  }
  return {names.begin(), names.end()};
}

void PluginHost::load(const std::vector<PluginEntry>& entries) {
  for (const auto& entry : entries) {
    const std::string where = entry.where + ": " + entry.key;
    LoadedPlugin p;
    p.name = entry.name;
    p.path = find(entry.name);
    if (p.path.empty()) {
      std::string searched;
      for (const auto& d : dirs_) searched += (searched.empty() ? "" : ", ") + d;
      throw PluginError(where + ": plugin '" + entry.name + "' not found (looked for " + entry.name +
                        ".so in " + searched + "; set server.plugin_dirs)");
    }
    try {
      p.library = std::make_shared<boost::dll::shared_library>(
          p.path, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
      throw PluginError(where + ": plugin '" + entry.name + "' (" + p.path +
                        ") cannot be loaded: " + e.what());
    }
    if (!p.library->has(kPluginEntrySymbol))
      throw PluginError(where + ": " + p.path + " is not a homesip plugin (it exports no " +
                        kPluginEntrySymbol + "; build it with HOMESIP_PLUGIN)");
    const auto entry_fn = p.library->get<const PluginDescriptor*()>(kPluginEntrySymbol);
    p.descriptor = entry_fn();
    if (!p.descriptor) throw PluginError(where + ": plugin '" + entry.name + "' returned no descriptor");
    try {
      check_descriptor(*p.descriptor, entry.name, p.path);
    } catch (const PluginError& e) {
      throw PluginError(where + ": " + e.what());
    }
    p.settings = validate_settings(*p.descriptor, entry, config_file_);
    plugins_.push_back(std::move(p));
  }
}

void PluginHost::create(EventLoop& loop, const ServerIdentity& identity, CapabilityRegistry& registry,
                        const std::shared_ptr<spdlog::logger>& base_logger) {
  for (auto& p : plugins_) {
    auto log = base_logger->clone(p.name);
    p.context = std::make_unique<PluginContextImpl>(*p.settings, log, loop, identity, registry, p.name);
    try {
      p.instance.reset(p.descriptor->create(*p.context));
    } catch (const ConfigError& e) {
      std::string where = p.path;
      try {
        where = p.settings->where(e.key());
      } catch (const ConfigError&) {
      }
      throw ConfigFileError(where + ": " + e.what());
    } catch (const std::exception& e) {
      throw PluginError("plugin '" + p.name + "' failed to start: " + e.what());
    } catch (...) {
      throw PluginError("plugin '" + p.name + "' failed to start: unknown exception");
    }
    if (!p.instance) throw PluginError("plugin '" + p.name + "' factory returned nothing");
  }
}

void PluginHost::start() {
  for (auto& p : plugins_) {
    try {
      p.instance->start();
    } catch (const std::exception& e) {
      throw PluginError("plugin '" + p.name + "' failed to start: " + e.what());
    }
  }
  started_ = true;
}

void PluginHost::stop() {
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    if (!it->instance) continue;
    try {
      it->instance->stop();
    } catch (const std::exception& e) {
      spdlog::error("plugin '{}' failed to stop cleanly: {}", it->name, e.what());
    }
  }
  started_ = false;
}

void PluginHost::destroy() {
  while (!plugins_.empty()) plugins_.pop_back();  // reverse order; ~LoadedPlugin frees object, then library
}

}  // namespace homesip::core
