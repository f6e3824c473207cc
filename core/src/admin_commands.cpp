#include "admin_commands.hpp"

#include <cctype>
#include <memory>
#include <stdexcept>

#include "event_loop.hpp"
#include "metrics.hpp"
#include "plugin_host.hpp"
#include "sip_server.hpp"

namespace homesip::core {
namespace {

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kSanity:
      return "sanity";
    case Phase::kAuthenticate:
      return "authenticate";
    case Phase::kAuthorize:
      return "authorize";
    case Phase::kLocalServices:
      return "local-services";
    case Phase::kRouting:
      return "routing";
    case Phase::kRegistrar:
      return "registrar";
    case Phase::kFallback:
      return "fallback";
  }
  return "?";
}

nlohmann::json names_json(StaticList<const char*> names) {
  nlohmann::json list = nlohmann::json::array();
  for (const char* name : names)
    if (name) list.push_back(name);
  return list;
}

nlohmann::json plugins_json(const PluginHost& host, const RequestChain& chain) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& plugin : host.plugins()) {
    const auto* d = plugin.descriptor;
    nlohmann::json handlers = nlohmann::json::array();
    for (const ChainEntry& entry : chain.entries())
      if (entry.plugin == plugin.name)
        handlers.push_back(
            {{"name", entry.name}, {"phase", phase_name(entry.phase)}, {"order", entry.order}});
    nlohmann::json commands = nlohmann::json::array();
    for (const PluginCommand& c : plugin.commands)
      commands.push_back({{"name", plugin.name + "." + c.spec->name},
                          {"arguments", c.spec->arguments},
                          {"help", c.spec->help},
                          {"bound", static_cast<bool>(c.handler)}});
    nlohmann::json metrics = nlohmann::json::array();
    for (const PluginMetric& m : plugin.metrics)
      metrics.push_back({{"name", metric_name(plugin.name, m.spec->name)},
                         {"type", metric_type_name(m.spec->type)},
                         {"help", m.spec->help}});
    list.push_back({{"name", plugin.name},
                    {"version", d ? d->version : ""},
                    {"sdk", d ? std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) : ""},
                    {"path", plugin.path},
                    {"provides", names_json(d->provides)},
                    {"requires", names_json(d->requires_services)},
                    {"uses", names_json(d->uses)},
                    {"handlers", handlers},
                    {"commands", commands},
                    {"metrics", metrics}});
  }
  return list;
}

// Each loop's messages, lag, coalescing pauses and absorbed retransmissions (server.loops), the
// main loop's first.
nlohmann::json loops_json(const SipServer& server) {
  nlohmann::json loops = nlohmann::json::array();
  for (const auto& loop : server.loop_figures())
    loops.push_back({{"messages", loop.messages},
                     {"lag_ms", loop.lag.count()},
                     {"pauses", loop.pauses},
                     {"retransmissions_absorbed", loop.absorbed}});
  return loops;
}

nlohmann::json metrics_json(const PluginHost& host) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& plugin : host.plugins())
    for (const PluginMetric& m : plugin.metrics) {
      const std::string name = metric_name(plugin.name, m.spec->name);
      if (m.spec->type == MetricType::kCounter)
        values[name] = m.count.load(std::memory_order_relaxed);
      else if (m.spec->type == MetricType::kGauge)
        values[name] = m.level.load(std::memory_order_relaxed);
      else  // a histogram: how many and their total, as its _count and _sum
        values[name] = {
            {"type", "histogram"},
            {"count", m.histogram.count.load(std::memory_order_relaxed)},
            {"sum_s", static_cast<double>(m.histogram.sum_ns.load(std::memory_order_relaxed)) / 1e9}};
    }
  return values;
}

// The arguments of a plugin's command: {"argv": ["a", "b"]}, or none.
std::vector<std::string> argv_of(const nlohmann::json& args) {
  std::vector<std::string> argv;
  if (!args.is_object() || !args.contains("argv")) return argv;
  const auto& list = args["argv"];
  if (!list.is_array()) throw std::invalid_argument("\"argv\" must be a list of strings");
  for (const auto& item : list) {
    if (!item.is_string()) throw std::invalid_argument("\"argv\" must be a list of strings");
    argv.push_back(item.get<std::string>());
  }
  return argv;
}

// A plugin's answer as the admin socket sends it: its JSON, parsed, or an
// error (its own text, or that its JSON does not parse).
nlohmann::json command_answer(const std::string& command, bool ok, const std::string& text) {
  if (!ok) return {{"error", text}};
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return {{"error", command + " answered something that is not JSON (a plugin bug)"}};
  }
}

void add_plugin_commands(CommandRegistry& socket, PluginHost& host, SofiaEventLoop& loop) {
  for (auto& plugin : host.plugins())
    for (PluginCommand& c : plugin.commands) {
      const std::string name = plugin.name + "." + c.spec->name;
      const std::string usage = *c.spec->arguments ? std::string(" ") + c.spec->arguments : "";
      socket.add(name, std::string(c.spec->help) + " (arguments:" + (usage.empty() ? " none" : usage) + ")",
                 [&c, name, &loop](const nlohmann::json& args, CommandRegistry::Respond respond) {
                   if (!c.handler)
                     throw std::invalid_argument(name + " is declared but its plugin never bound it");
                   // The plugin may answer from any thread: the answer goes out on the loop.
                   c.handler(argv_of(args), [name, &loop, respond](bool ok, std::string text) {
                     loop.post([name, respond, ok, text = std::move(text)] {
                       respond(command_answer(name, ok, text));
                     });
                   });
                 });
    }
}

// Every AOR of `domain` with its bindings: one lookup per AOR, answered when
// the last one is (a store may answer later, from its own thread's results).
void all_bindings(LocationStore& store, const std::string& domain, CommandRegistry::Respond respond) {
  store.list_aors(domain, [&store, respond](StoreStatus status, const std::vector<std::string>& aors) {
    if (status != StoreStatus::kOk) return respond({{"error", "the location store is unavailable"}});
    auto result = std::make_shared<nlohmann::json>(nlohmann::json::object());
    auto left = std::make_shared<size_t>(aors.size());
    if (aors.empty()) return respond(*result);
    for (const std::string& aor : aors)
      store.lookup(aor, [aor, result, left, respond](StoreStatus, const BindingList& bindings) {
        const int64_t now = unix_now();
        nlohmann::json list = nlohmann::json::array();
        for (const Binding& b : bindings) list.push_back(binding_json(b, now));
        (*result)[aor] = std::move(list);
        if (--*left == 0) respond(*result);
      });
  });
}

// bindings' arguments by name: {"aor": A} or {"domain": D} as homesipctl
// sends them, or {"argv": [X]} as /api/bindings?arg=X does (a name with '@'
// is an AOR, any other a domain).
nlohmann::json named_binding_args(const nlohmann::json& args) {
  const std::vector<std::string> argv = argv_of(args);
  if (argv.empty()) return args;
  if (argv.size() > 1) throw std::invalid_argument("usage: bindings DOMAIN or bindings AOR (one argument)");
  if (argv.front().find('@') != std::string::npos) return {{"aor", argv.front()}};
  return {{"domain", argv.front()}};
}

}  // namespace

std::string metric_name(std::string_view plugin, std::string_view metric) {
  std::string name = "homesip_";
  for (std::string_view part : {plugin, std::string_view("_"), metric})
    for (char c : part) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

nlohmann::json binding_json(const Binding& b, int64_t now) {
  return {{"contact", b.contact},       {"expires_in", b.expires_at - now},
          {"q", b.q_millis / 1000.0},   {"source", b.source},
          {"user_agent", b.user_agent}, {"instance", b.instance},
          {"call_id", b.call_id},       {"cseq", b.cseq}};
}

void add_admin_commands(CommandRegistry& socket, const AdminSources& sources) {
  socket.add(
      "plugins",
      "the plugins this server loaded, in config order, with their services, handlers, commands and metrics",
      [&host = sources.plugins, &server = sources.server](const nlohmann::json&,
                                                          CommandRegistry::Respond respond) {
        respond(plugins_json(host, server.chain()));
      });
  socket.add(
      "bindings", "bindings by AOR: {\"aor\": A} for one, {\"domain\": D} for every binding of a domain",
      [&host = sources.plugins](const nlohmann::json& args, CommandRegistry::Respond respond) {
        auto* store = static_cast<LocationStore*>(host.service(LocationStore::kServiceName));
        if (!store) throw std::invalid_argument("this server loads no location store");
        const nlohmann::json named = named_binding_args(args);
        if (named.contains("aor")) {
          const std::string aor = named["aor"].get<std::string>();
          store->lookup(aor, [aor, respond](StoreStatus status, const BindingList& bindings) {
            if (status != StoreStatus::kOk) return respond({{"error", "the location store is unavailable"}});
            const int64_t now = unix_now();
            nlohmann::json list = nlohmann::json::array();
            for (const Binding& b : bindings) list.push_back(binding_json(b, now));
            respond({{aor, list}});
          });
          return;
        }
        // The core knows no tree, so no domain of its own to default to.
        if (!named.contains("domain"))
          throw std::invalid_argument("usage: bindings DOMAIN (e.g. bindings C1.D1.H1) or bindings AOR");
        all_bindings(*store, named["domain"].get<std::string>(), respond);
      });
  socket.add("stats", "this server's first listener, uptime, counters and the plugins' metrics",
             [sources](const nlohmann::json&, CommandRegistry::Respond respond) {
               const auto uptime = std::chrono::steady_clock::now() - sources.started;
               respond({{"server", sources.server_name},
                        {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
                        {"tcp_tls_connections", sources.server.connection_count()},
                        {"answers_pending", sources.server.suspended_pending()},
                        {"limits_hit", sources.server.limit_hits()},
                        {"rate_limited_sources", sources.server.rate_limited_sources()},
                        {"loop_lag_ms", sources.server.loop_lag().count()},
                        {"loops", loops_json(sources.server)},
                        {"metrics", metrics_json(sources.plugins)}});
             });
  add_plugin_commands(socket, sources.plugins, sources.loop);
}

}  // namespace homesip::core
