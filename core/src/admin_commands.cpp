#include "admin_commands.hpp"

#include <memory>
#include <stdexcept>

#include "plugin_host.hpp"
#include "sip_server.hpp"

namespace homesip::core {
namespace {

nlohmann::json plugins_json(const PluginHost& host) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& plugin : host.plugins()) {
    const auto* d = plugin.descriptor;
    list.push_back({{"name", plugin.name},
                    {"version", d ? d->version : ""},
                    {"sdk", d ? std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) : ""},
                    {"path", plugin.path}});
  }
  return list;
}

// Every AOR of `domain` with its bindings: one lookup per AOR, answered when
// the last one is (a store may answer later, from its own thread's results).
void all_bindings(LocationStore& store, const std::string& domain, AdminSocket::Respond respond) {
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

}  // namespace

nlohmann::json binding_json(const Binding& b, int64_t now) {
  return {{"contact", b.contact},       {"expires_in", b.expires_at - now},
          {"q", b.q_millis / 1000.0},   {"source", b.source},
          {"user_agent", b.user_agent}, {"instance", b.instance},
          {"call_id", b.call_id},       {"cseq", b.cseq}};
}

void add_admin_commands(AdminSocket& socket, const AdminSources& sources) {
  socket.add("plugins", "the plugins this server loaded, in order",
             [&host = sources.plugins](const nlohmann::json&, AdminSocket::Respond respond) {
               respond(plugins_json(host));
             });
  socket.add("bindings",
             "bindings by AOR: {\"aor\": A} for one, {\"domain\": D} for a domain (default: the users and "
             "children of this server)",
             [store = sources.store, domain = sources.identity.child_domain()](const nlohmann::json& args,
                                                                               AdminSocket::Respond respond) {
               if (!store) throw std::invalid_argument("this server loads no location store");
               if (args.contains("aor")) {
                 const std::string aor = args["aor"].get<std::string>();
                 store->lookup(aor, [aor, respond](StoreStatus status, const BindingList& bindings) {
                   if (status != StoreStatus::kOk)
                     return respond({{"error", "the location store is unavailable"}});
                   const int64_t now = unix_now();
                   nlohmann::json list = nlohmann::json::array();
                   for (const Binding& b : bindings) list.push_back(binding_json(b, now));
                   respond({{aor, list}});
                 });
                 return;
               }
               all_bindings(*store, args.value("domain", domain), respond);
             });
  socket.add("stats", "this server's identity, uptime and counters",
             [sources](const nlohmann::json&, AdminSocket::Respond respond) {
               const auto uptime = std::chrono::steady_clock::now() - sources.started;
               respond({{"server", sources.identity.aor()},
                        {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
                        {"tcp_tls_connections", sources.server.connection_count()},
                        {"answers_pending", sources.server.deferred_pending()},
                        {"limits_hit", sources.server.limit_hits()}});
             });
}

}  // namespace homesip::core
