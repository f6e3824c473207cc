#include "daemon.hpp"

#include <signal.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <cstdarg>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "admin_commands.hpp"
#include "event_loop.hpp"
#include "hangup_signal.hpp"
#include "http_listener.hpp"
#include "log_sink.hpp"
#include "metrics.hpp"
#include "plugin_host.hpp"
#include "service_notify.hpp"
#include "sip_client.hpp"
#include "sip_server.hpp"

extern "C" {
extern su_log_t tport_log[];
extern su_log_t nta_log[];
extern su_log_t su_log_default[];
}

namespace homesip::core {
namespace {

SofiaEventLoop* g_loop = nullptr;

void on_signal(int) {
  if (g_loop) g_loop->stop();
}

// SIGHUP: logrotate renamed the file; lines go to a new one at the old path.
// Nothing else is reloaded (config changes need a restart).
void reopen_log(spdlog::logger& log, ReopenableFileSink* file, bool& told_stderr) {
  if (!file) {
    if (!std::exchange(told_stderr, true)) log.info("SIGHUP: logging to stderr, no log file to reopen");
    return;
  }
  if (const std::string why = file->reopen(); !why.empty())
    log.error("SIGHUP: cannot reopen the log file ({}); still writing to the old one", why);
  else
    log.info("SIGHUP: log file {} reopened", file->path());
}

void sofia_log_sink(void* stream, char const* fmt, va_list ap) {
  char line[1024];
  std::vsnprintf(line, sizeof line, fmt, ap);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) static_cast<spdlog::logger*>(stream)->debug("sofia: {}", text);
}

// Routes sofia-sip's logs into spdlog so one sink holds everything.
void route_sofia_logs(spdlog::logger& log, int level) {
  for (su_log_t* l : {su_log_default, tport_log, nta_log}) {
    su_log_redirect(l, sofia_log_sink, &log);
    su_log_set_level(l, static_cast<unsigned>(level));
  }
}

// The SipClient plugins get while they are created, before the server
// starts and nta's agent (which NtaSipClient needs) exists: it forwards to
// the real client from start() until the server stops.
// attach() and detach() happen while no loop but the main one turns: before
// run_loops() and after stop_loops().
class ForwardingClient final : public SipClient {
 public:
  void attach(std::unique_ptr<NtaSipClient> client) { client_ = std::move(client); }
  void detach() { client_.reset(); }
  // Requests sent and not answered yet (the goodbye at shutdown waits for them).
  size_t pending() const { return client_ ? client_->outstanding() : 0; }
  std::unique_ptr<ClientTransaction> send(const OutgoingRequest& request, ResponseDone done) override {
    if (!client_)
      throw std::logic_error("the SIP client sends only while the server runs: from Plugin::start() on");
    return client_->send(request, std::move(done));
  }

 private:
  std::unique_ptr<NtaSipClient> client_;
};

// --config's plugin_dirs, or none (the default dirs) without --config.
std::vector<std::string> plugin_dirs_of(const CommandLine& cmd) {
  if (cmd.config_file.empty()) return {};
  return load_config(cmd.config_file, cmd.overrides).server.plugin_dirs;
}

// One line per setting, the same for the core's keys and plugins' settings.
void print_setting(const std::string& key, const std::string& value, const char* help) {
  std::cout << "  " << key << ": " << value << "    # " << help << "\n";
}

void print_header(const std::string& name, const std::string& version, uint32_t sdk_major, uint32_t sdk_minor,
                  const std::string& summary, const std::string& path) {
  std::cout << name << " " << version << " (SDK " << sdk_major << "." << sdk_minor << ")\n  " << summary
            << "\n  file: " << path << "\n";
}

// "provides: homesip.location-store/1, homesip.user-store/1", when any.
void print_names(const char* what, StaticList<const char*> names) {
  if (!names.size()) return;
  std::cout << what << ":";
  const char* separator = " ";
  for (const char* name : names) {
    std::cout << separator << name;
    separator = ", ";
  }
  std::cout << "\n";
}

// `--describe-plugin server`: the core's own keys, described like a plugin's.
int describe_core() {
  boost::system::error_code ec;
  const auto exe = boost::dll::program_location(ec);
  print_header("server", "(built in)", HOMESIP_SDK_VERSION_MAJOR, HOMESIP_SDK_VERSION_MINOR,
               "homesipd's own keys: the server: and log: blocks of a config",
               ec ? "homesipd" : exe.string());
  for (const auto& s : core_settings())
    print_setting(s.spec.key, describe_default(s.spec, s.required), s.spec.help);
  return kExitOk;
}

int describe_plugin(const CommandLine& cmd) {
  if (cmd.describe_plugin == "server") return describe_core();
  const PluginInfo info = PluginHost(plugin_dirs_of(cmd), cmd.config_file).inspect(cmd.describe_plugin);
  const auto* d = info.descriptor;
  print_header(d->name, d->version, d->abi_major, d->abi_minor, d->summary, info.path);
  for (const SettingSpec& s : d->settings) print_setting(s.key, describe_default(s, true), s.help);
  print_names("provides", d->provides);
  print_names("requires", d->requires_services);
  print_names("uses", d->uses);
  if (d->commands.size()) std::cout << "commands:\n";
  for (const CommandSpec& c : d->commands)
    std::cout << "  " << d->name << "." << c.name << (*c.arguments ? " " : "") << c.arguments << "    # "
              << c.help << "\n";
  if (d->metrics.size()) std::cout << "metrics:\n";
  for (const MetricSpec& m : d->metrics)
    std::cout << "  " << metric_name(d->name, m.name) << " (" << metric_type_name(m.type) << ")    # "
              << m.help << "\n";
  return kExitOk;
}

// A plugin whose every setting has a default loads as dumped.
bool loads_as_dumped(const PluginDescriptor& d) {
  return std::all_of(d.settings.begin(), d.settings.end(),
                     [](const SettingSpec& s) { return s.default_value; });
}

// Why a dumped plugin entry is commented out, or "" when it is loaded: a
// setting without a default, or a service an entry before it already provides
// (a config loads one provider of each service).
// Why a plugin loaded alone refuses its defaults (its check_settings: the
// policy's domain, needed without the tree, which the dump leaves out), or "".
std::string refuses_defaults(const std::vector<std::string>& dirs, const std::string& name) {
  PluginEntry entry;
  entry.name = name;
  entry.key = "plugins[0]";
  entry.where = "--dump-default";
  entry.settings = YAML::Load("plugin: " + name);
  try {
    PluginHost(dirs, "").load({entry});
  } catch (const ConfigFileError& e) {
    const std::string text = e.what();
    const size_t problem = text.find("(default): ");
    return problem == std::string::npos ? text : text.substr(problem + 11);
  } catch (const PluginError&) {
    // A service it requires is another entry's business.
  }
  return {};
}

std::string why_commented(const PluginDescriptor& d, std::set<std::string>& provided,
                          const std::vector<std::string>& dirs) {
  for (const SettingSpec& s : d.settings)
    if (!s.default_value) return std::string(s.key) + " has no default";
  if (std::string why = refuses_defaults(dirs, d.name); !why.empty()) return why;
  for (const char* service : d.provides)
    if (provided.count(service)) return "another entry provides " + std::string(service);
  for (const char* service : d.provides) provided.insert(service);
  return {};
}

// Why each dumped entry is commented out ("" when it is loaded): why_commented(),
// then, until nothing changes, a required service no loaded entry provides (the
// appliance plugins without the hub, which needs a domain without the tree).
std::vector<std::string> reasons_commented(const std::vector<PluginInfo>& infos,
                                           const std::vector<std::string>& dirs) {
  std::vector<std::string> whys;
  std::set<std::string> provided;
  for (const PluginInfo& info : infos) whys.push_back(why_commented(*info.descriptor, provided, dirs));
  for (bool changed = true; changed;) {
    changed = false;
    std::set<std::string> loaded;
    for (size_t i = 0; i < infos.size(); ++i)
      if (whys[i].empty())
        for (const char* service : infos[i].descriptor->provides) loaded.insert(service);
    for (size_t i = 0; i < infos.size(); ++i)
      for (const char* service : infos[i].descriptor->requires_services)
        if (whys[i].empty() && !loaded.count(service)) {
          whys[i] = "no loaded entry provides " + std::string(service);
          changed = true;
        }
  }
  return whys;
}

void write_plugin_entry(std::ostream& out, const PluginInfo& info, const std::string& why) {
  const PluginDescriptor& d = *info.descriptor;
  out << "  # " << d.name << " " << d.version << ": " << d.summary
      << (why.empty() ? "" : " (commented out: " + why + ")") << "\n";
  out << (why.empty() ? "  " : "  # ") << "- plugin: " << d.name << "\n";
  const std::string indent = why.empty() ? "    " : "  #   ";
  for (const SettingSpec& s : d.settings) {
    const std::string help = std::string(s.help) + (s.default_value ? "" : " (required)");
    write_setting(out, indent, s.key, yaml_value(s, s.default_value), help, false);
  }
}

// `--dump-default`: a complete config, every key at its default, every plugin
// found in the plugin dirs (--config's, else the default ones).
int dump_default(const CommandLine& cmd) {
  const auto dirs = plugin_dirs_of(cmd);
  const PluginHost host(dirs, cmd.config_file);
  std::map<std::string, std::string> values;
  if (!dirs.empty()) {
    YAML::Emitter list;
    list << YAML::Flow << dirs;
    values["server.plugin_dirs"] = list.c_str();
  }
  std::cout << "# homesipd config: every key at its default (homesipd --dump-default).\n"
               "# A commented-out key has none; `homesipd --describe-plugin server` (or NAME) lists them.\n";
  write_core_defaults(std::cout, values);
  std::cout << "\nplugins:  # in any order: providers of services are created first, handlers run by phase\n";
  // Plugins that load as dumped come first, so a service goes to one of them
  // (the embedded location-sqlite rather than location-ldap, which needs a directory).
  std::vector<PluginInfo> infos;
  for (const auto& name : host.available()) {
    try {
      infos.push_back(host.inspect(name));
    } catch (const PluginError& e) {
      std::cout << "  # " << name << ": skipped: " << e.what() << "\n";
    }
  }
  std::stable_partition(infos.begin(), infos.end(),
                        [](const PluginInfo& info) { return loads_as_dumped(*info.descriptor); });
  const std::vector<std::string> whys = reasons_commented(infos, dirs);
  for (size_t i = 0; i < infos.size(); ++i) write_plugin_entry(std::cout, infos[i], whys[i]);
  return kExitOk;
}

int serve(const Config& config, bool check_only) {
  PluginHost host(config.server.plugin_dirs, config.file);
  host.load(config.plugins);
  if (check_only) {
    std::cout << config.file << ": ok (" << config.plugins.size() << " plugins)\n";
    return kExitOk;
  }
  std::shared_ptr<ReopenableFileSink> log_file;
  auto log = make_core_logger(config.log, log_file);
  spdlog::set_default_logger(log);
  // Until the loop takes SIGHUP (HangupSignal, once serving), a logrotate
  // that signals early must not kill the server (SIGHUP's default action).
  ::signal(SIGHUP, SIG_IGN);
  su_init();
  route_sofia_logs(*log, config.log.sofia_level);
  int code = kExitOk;
  {
    SofiaEventLoop loop;
    SipServer server(loop, config.server, log);
    ForwardingClient client;
    // Who the server is in the tree is the tree plugin's business; the core
    // names itself by its first listener (log, stats, the client's default From).
    const ListenAddress& first = config.server.listen.front();
    const std::string self = "<" + first.contact_for("homesip") + ">";
    const AdminSources sources{host, server, loop, first.text(), std::chrono::steady_clock::now()};
    CommandRegistry commands;            // what the admin socket and the HTTP listener's /api/ run
    std::unique_ptr<AdminSocket> admin;  // before the plugins go: its commands read them
    std::unique_ptr<HttpListener> http;  // started after the plugins, stopped before they go
    // What the plugins posted to the main loop runs while their code is still
    // loaded; what they post from now on is dropped (the SDK's promise, as for
    // the other loops in stop_loops). A task left for the loop's destructor
    // called into an unloaded library: homesipd crashed at exit, now and then,
    // when a plugin's thread posted during the stop (mqtt-bridge's tests).
    const auto destroy_plugins = [&] {
      loop.close();
      host.destroy();
    };
    try {
      host.create(loop, config.server.listen, CoreFacilities{server.chain(), client}, log);
      server.start();
      client.attach(std::make_unique<NtaSipClient>(server.agent(), loop, self, log));
      host.start();
      server.run_loops();  // the other loops serve once the plugins have started
      add_admin_commands(commands, sources);
      if (!config.server.admin_socket.empty())
        admin = std::make_unique<AdminSocket>(loop, config.server.admin_socket, commands, log);
      if (config.server.http.enabled())
        http = std::make_unique<HttpListener>(config.server.http, loop, commands, sources, log);
      g_loop = &loop;
      struct sigaction sa {};
      sa.sa_handler = on_signal;
      sigaction(SIGTERM, &sa, nullptr);
      sigaction(SIGINT, &sa, nullptr);
      bool told_stderr = false;
      HangupSignal hangup(loop, [&] { reopen_log(*log, log_file.get(), told_stderr); });
      ServiceNotifier systemd(loop, log);
      log->info("{} serving ({} plugins)", first.text(), host.plugins().size());
      systemd.ready("serving " + first.text());
      loop.run();
      systemd.stopping();
      log->info("stopping");
    } catch (const ConfigFileError&) {
      host.stop();
      destroy_plugins();
      throw;
    } catch (const PluginError&) {
      host.stop();
      destroy_plugins();
      throw;
    } catch (const std::exception& e) {
      log->critical("{}", e.what());
      code = kExitRuntime;
    }
    g_loop = nullptr;
    http.reset();
    admin.reset();
    // Plugins flush while the loop still turns, so suspended requests get
    // their answers out; what is still suspended then gets 503 (server.stop()).
    // No other loop takes new requests while they stop.
    server.drain_loops();
    host.stop();
    loop.run_until([&] { return server.suspended_pending() == 0; }, std::chrono::seconds(5));
    // A goodbye a plugin sent in stop() (the tree's unregistration with its
    // parent) gets out and its answer a moment to come back, bounded.
    loop.run_until([&] { return client.pending() == 0; }, std::chrono::milliseconds(500));
    server.stop_loops();  // no other loop sends through the client any more
    client.detach();      // before the agent goes with server.stop()
    server.stop();
    destroy_plugins();
  }
  log->info("stopped");
  log->flush();
  su_deinit();
  return code;
}

// An option given twice keeps its last value, as it did before CLI11.
void define_options(CLI::App& app, CommandLine& cmd) {
  app.add_option("-c,--config", cmd.config_file, "YAML configuration (see config/examples/)")
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--set", cmd.overrides,
                 "override a config key, e.g. --set server.listen=[udp:127.0.0.1:5060]\n"
                 "or --set plugins.location-sqlite.path=/tmp/h1.sqlite")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);  // one value per --set, like --set=KEY=VALUE
  app.add_flag("--check-config", cmd.check_only,
               "validate the config and every plugin's settings, then exit");
  app.add_option("--describe-plugin", cmd.describe_plugin,
                 "print plugin NAME's version and declared settings (--config adds its plugin_dirs)")
      ->type_name("NAME")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--dump-default", cmd.dump_default,
               "print a complete commented config with every key's default and every plugin found\n"
               "(in --config's plugin_dirs, if given)");
  app.footer("exit codes: 0 ok, 1 usage, 2 config error, 3 plugin error, 4 runtime error");
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    return "homesipd: " + CLI::FailureMessage::simple(a, e);  // like every other homesipd error
  });
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, CommandLine& cmd) {
  CLI::App app("homesipd: a SIP server of the homesip tree; its config decides the tier", "homesipd");
  define_options(app, cmd);
  try {
    app.parse(argc, argv);
    // Not CLI11's required(): --describe-plugin and --dump-default need no config.
    if (cmd.config_file.empty() && cmd.describe_plugin.empty() && !cmd.dump_default)
      throw CLI::RequiredError("--config");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;  // CLI11's codes (100+) are not ours
  }
  return std::nullopt;
}

int run_daemon(const CommandLine& cmd) {
  try {
    if (!cmd.describe_plugin.empty()) return describe_plugin(cmd);
    if (cmd.dump_default) return dump_default(cmd);
    return serve(load_config(cmd.config_file, cmd.overrides), cmd.check_only);
  } catch (const ConfigFileError& e) {
    std::cerr << "homesipd: config error: " << e.what() << "\n";
    return kExitConfig;
  } catch (const PluginError& e) {
    std::cerr << "homesipd: plugin error: " << e.what() << "\n";
    return kExitPlugin;
  } catch (const std::exception& e) {
    std::cerr << "homesipd: " << e.what() << "\n";
    return kExitRuntime;
  }
}

}  // namespace homesip::core
