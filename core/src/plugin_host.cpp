#include "plugin_host.hpp"

#include <spdlog/spdlog.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "event_loop.hpp"
#include "homesip/setting_table.hpp"
#include "listen_address.hpp"

namespace homesip::core {

namespace fs = std::filesystem;

// Validated settings of one plugin: declared defaults filled in, types checked.
class SettingsImpl final : public SettingTable {};

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
  std::string problem;
  const std::optional<std::string> canonical = canonical_setting_text(type, node.Scalar(), problem);
  if (!canonical) return problem;
  items.push_back(*canonical);
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
  for (const SettingSpec& spec : d.settings) declared[spec.key] = &spec;

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
    SettingEntry value;
    value.explicitly_set = true;
    value.where = origin(key, kv.second) + ": " + entry.key + "." + key;
    const std::string problem = convert(kv.second, spec->second->type, value.items);
    if (!problem.empty()) fail(origin(key, kv.second), key, problem);
    value.type = spec->second->type;
    settings->entries[key] = std::move(value);
  }
  for (const auto& [key, spec] : declared) {
    if (settings->entries.count(key)) continue;
    if (!spec->default_value) fail(entry.where, key, std::string("missing (") + spec->help + ")");
    SettingEntry value;
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
    value.type = spec->type;
    settings->entries[key] = std::move(value);
  }
  return settings;
}

bool listed(StaticList<const char*> names, std::string_view name) {
  for (const char* n : names)
    if (n && name == n) return true;
  return false;
}

}  // namespace

class PluginContextImpl final : public PluginContext {
 public:
  PluginContextImpl(PluginHost& host, LoadedPlugin& plugin, size_t index, std::shared_ptr<spdlog::logger> log,
                    EventLoop& loop, const std::vector<ListenAddress>& listeners, CoreFacilities core)
      : host_(host),
        plugin_(plugin),
        index_(index),
        logger_(std::move(log)),
        loop_(loop),
        listeners_(listeners),
        core_(core) {}
  const Settings& settings() const override { return *plugin_.settings; }
  Logger& logger() override { return logger_; }
  EventLoop& loop() override { return loop_; }
  EventLoop& current_loop() override {
    EventLoop* current = SofiaEventLoop::current();
    return current ? *current : loop_;
  }
  std::string contact_uri(std::string_view user) const override {
    if (listeners_.empty()) throw std::logic_error("contact_uri() on a server without listeners");
    return listeners_.front().contact_for(std::string(user));
  }
  bool addresses_me(const UriView& uri) const override { return addresses_listener(listeners_, uri); }
  void add_request_handler(RequestHandler& handler, HandlerPlacement placement) override {
    core_.chain.add(handler, placement, index_, plugin_.name);
  }
  void provide_service(std::string_view name, void* service) override {
    if (!listed(plugin_.descriptor->provides, name))
      throw std::logic_error("plugin '" + plugin_.name + "' provides " + std::string(name) +
                             ", which its descriptor does not list in provides");
    host_.services_.find(name)->second.instance = service;
  }
  void* find_service(std::string_view name) override {
    const auto* d = plugin_.descriptor;
    if (!listed(d->requires_services, name) && !listed(d->uses, name) && !listed(d->provides, name))
      throw std::logic_error("plugin '" + plugin_.name + "' asks for service " + std::string(name) +
                             ", which its descriptor lists neither in requires_services nor in uses");
    return host_.service(name);
  }
  SipClient& client() override { return core_.client; }
  void on_command(std::string_view name, CommandHandler handler) override {
    for (PluginCommand& command : plugin_.commands)
      if (name == command.spec->name) {
        command.handler = std::move(handler);
        return;
      }
    throw std::logic_error("plugin '" + plugin_.name + "' binds command '" + std::string(name) +
                           "', which its descriptor does not declare");
  }
  Counter counter(std::string_view name) override {
    return Counter(&metric(name, MetricType::kCounter).count);
  }
  Gauge gauge(std::string_view name) override { return Gauge(&metric(name, MetricType::kGauge).level); }
  Histogram histogram(std::string_view name) override {
    return Histogram(&metric(name, MetricType::kHistogram).histogram);
  }
  void on_http(std::string_view path, HttpHandler handler) override {
    if (path.empty() || path.front() != '/')
      throw std::logic_error("plugin '" + plugin_.name + "' serves HTTP path '" + std::string(path) +
                             "', which does not start with '/'");
    if (path == "/metrics" || path.starts_with("/api/") || path == "/api")
      throw std::logic_error("plugin '" + plugin_.name + "' claims HTTP path '" + std::string(path) +
                             "', which the core serves itself");
    for (const PluginHttpRoute& route : host_.http_routes_)
      if (route.path == path)
        throw std::logic_error("plugin '" + plugin_.name + "' claims HTTP path '" + std::string(path) +
                               "', which plugin '" + route.plugin + "' serves");
    host_.http_routes_.push_back(PluginHttpRoute{std::string(path), plugin_.name, std::move(handler)});
  }

 private:
  PluginMetric& metric(std::string_view name, MetricType type) {
    for (PluginMetric& m : plugin_.metrics)
      if (name == m.spec->name && m.spec->type == type) return m;
    static constexpr const char* kTypeNames[] = {"counter '", "gauge '", "histogram '"};
    throw std::logic_error("plugin '" + plugin_.name + "' asks for " +
                           kTypeNames[static_cast<uint32_t>(type) % 3] + std::string(name) +
                           "', which its descriptor does not declare");
  }

  PluginHost& host_;
  LoadedPlugin& plugin_;
  size_t index_;
  PluginLogger logger_;
  EventLoop& loop_;
  const std::vector<ListenAddress>& listeners_;
  CoreFacilities core_;
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
    p.where = where;
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
    for (const CommandSpec& command : p.descriptor->commands)
      p.commands.push_back(PluginCommand{&command, {}});
    for (const MetricSpec& metric : p.descriptor->metrics) p.metrics.emplace_back(&metric);
    plugins_.push_back(std::move(p));
  }
  // Once every plugin is read: a check may depend on the services the others
  // provide (Settings::service_loaded), and --check-config runs exactly this.
  std::set<std::string, std::less<>> provided;
  for (const LoadedPlugin& p : plugins_)
    for (const char* name : p.descriptor->provides)
      if (name) provided.insert(name);
  for (LoadedPlugin& p : plugins_) {
    p.settings->loaded_services = provided;
    if (p.descriptor->check_settings) run_check_settings(p);
  }
  check_services();
  order_creation();
}

void PluginHost::run_check_settings(const LoadedPlugin& p) const {
  try {
    p.descriptor->check_settings(*p.settings);
  } catch (const ConfigError& e) {
    throw ConfigFileError(where_of_key(p, e.key()) + ": " + e.what());
  } catch (const std::exception& e) {
    throw PluginError("plugin '" + p.name + "' refuses its settings: " + e.what());
  }
}

std::string PluginHost::where_of_key(const LoadedPlugin& p, const std::string& key) const {
  try {
    return p.settings->where(key);
  } catch (const ConfigError&) {
    return p.path;
  }
}

std::vector<std::string> PluginHost::providers_available(const std::string& service) const {
  std::vector<std::string> names;
  for (const std::string& name : available()) {
    try {
      if (listed(inspect(name).descriptor->provides, service)) names.push_back(name);
    } catch (const std::exception&) {
      // A plugin that cannot be read provides nothing worth suggesting.
    }
  }
  return names;
}

void PluginHost::check_services() {
  services_.clear();
  for (const LoadedPlugin& p : plugins_)
    for (const char* name : p.descriptor->provides) {
      if (!name) continue;
      const auto [it, added] = services_.try_emplace(name, Service{p.name, nullptr});
      if (!added)
        throw PluginError(p.where + ": plugins '" + it->second.provider + "' and '" + p.name +
                          "' both provide " + name + ": load only one of them");
    }
  for (const LoadedPlugin& p : plugins_)
    for (const char* name : p.descriptor->requires_services) {
      if (!name || services_.count(std::string_view(name))) continue;
      const auto candidates = providers_available(name);
      std::string advice;
      for (size_t i = 0; i < candidates.size(); ++i)
        advice += (i == 0 ? "" : i + 1 == candidates.size() ? " or " : ", ") + candidates[i];
      throw PluginError(p.where + ": plugin '" + p.name + "' requires " + name +
                        ", which no loaded plugin provides: " +
                        (advice.empty() ? "no plugin in the plugin dirs provides it either"
                                        : "add " + advice + " to plugins"));
    }
}

void PluginHost::order_creation() {
  // The plugins each one waits for: providers of what it requires or uses.
  std::vector<std::vector<size_t>> waits_for(plugins_.size());
  std::map<std::string, size_t, std::less<>> index_of;
  for (size_t i = 0; i < plugins_.size(); ++i) index_of[plugins_[i].name] = i;
  for (size_t i = 0; i < plugins_.size(); ++i) {
    const auto* d = plugins_[i].descriptor;
    for (const StaticList<const char*>* names : {&d->requires_services, &d->uses})
      for (const char* name : *names) {
        const auto service = name ? services_.find(std::string_view(name)) : services_.end();
        if (service == services_.end()) continue;
        const size_t provider = index_of[service->second.provider];
        if (provider != i) waits_for[i].push_back(provider);
      }
  }
  // Repeatedly the first plugin in config order whose providers all exist.
  creation_order_.clear();
  std::vector<bool> placed(plugins_.size(), false);
  while (creation_order_.size() < plugins_.size()) {
    bool progress = false;
    for (size_t i = 0; i < plugins_.size() && !progress; ++i) {
      if (placed[i]) continue;
      const bool ready =
          std::all_of(waits_for[i].begin(), waits_for[i].end(), [&](size_t p) { return placed[p]; });
      if (!ready) continue;
      placed[i] = true;
      creation_order_.push_back(i);
      progress = true;
    }
    if (!progress) {
      std::string cycle;
      for (size_t i = 0; i < plugins_.size(); ++i)
        if (!placed[i]) cycle += (cycle.empty() ? "'" : ", '") + plugins_[i].name + "'";
      throw PluginError("plugins " + cycle +
                        " need each other's services (a cycle): none can be created first");
    }
  }
}

void* PluginHost::service(std::string_view name) const {
  const auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.instance;
}

std::string PluginHost::provider(std::string_view name) const {
  const auto it = services_.find(name);
  return it == services_.end() ? std::string() : it->second.provider;
}

void PluginHost::create(EventLoop& loop, const std::vector<ListenAddress>& listeners, CoreFacilities core,
                        const std::shared_ptr<spdlog::logger>& base_logger) {
  for (size_t index : creation_order_) {
    LoadedPlugin& p = plugins_[index];
    auto log = base_logger->clone(p.name);
    p.context = std::make_unique<PluginContextImpl>(*this, p, index, log, loop, listeners, core);
    try {
      p.instance.reset(p.descriptor->create(*p.context));
    } catch (const ConfigError& e) {
      throw ConfigFileError(where_of_key(p, e.key()) + ": " + e.what());
    } catch (const std::exception& e) {
      throw PluginError("plugin '" + p.name + "' failed to start: " + e.what());
    } catch (...) {
      throw PluginError("plugin '" + p.name + "' failed to start: unknown exception");
    }
    if (!p.instance) throw PluginError("plugin '" + p.name + "' factory returned nothing");
    for (const char* name : p.descriptor->provides)
      if (name && !service(name))
        base_logger->warn("plugin '{}' declares it provides {} but did not provide it", p.name, name);
  }
}

void PluginHost::start() {
  for (size_t index : creation_order_) {
    LoadedPlugin& p = plugins_[index];
    try {
      p.instance->start();
    } catch (const std::exception& e) {
      throw PluginError("plugin '" + p.name + "' failed to start: " + e.what());
    }
  }
  started_ = true;
}

void PluginHost::stop() {
  for (auto it = creation_order_.rbegin(); it != creation_order_.rend(); ++it) {
    LoadedPlugin& p = plugins_[*it];
    if (!p.instance) continue;
    try {
      p.instance->stop();
    } catch (const std::exception& e) {
      spdlog::error("plugin '{}' failed to stop cleanly: {}", p.name, e.what());
    }
  }
  started_ = false;
}

void PluginHost::destroy() {
  // The HTTP handlers' code lives in the plugins' libraries: gone first.
  http_routes_.clear();
  // Reverse creation order, so a provider outlives the plugins using it;
  // ~LoadedPlugin frees the object, then the library.
  for (auto it = creation_order_.rbegin(); it != creation_order_.rend(); ++it) {
    LoadedPlugin& p = plugins_[*it];
    p.instance.reset();
    p.context.reset();
  }
  for (auto& [name, entry] : services_) entry.instance = nullptr;
  while (!plugins_.empty()) plugins_.pop_back();
  creation_order_.clear();
}

}  // namespace homesip::core
