// The policy plugin (phase authorize): who may register, call, control or
// watch which appliance, and look up whose bindings, in this server's own
// domain. The rules are in rules.cpp; this is settings, logging and wiring.
#include "homesip/plugin.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "homesip/handler.hpp"
#include "homesip/tree.hpp"
#include "rules.hpp"

namespace {

using homesip::policy::PolicyRules;

const homesip::SettingSpec kSettings[] = {
    {"domain", homesip::SettingType::kString, "",
     "the domain whose requests are decided on a server without the tree plugin (with it: the tree's child "
     "domain)"},
    {"register", homesip::SettingType::kStringList, "[owner, member, guest]",
     "roles that may register their own AOR (servers always may register their own)"},
    {"call", homesip::SettingType::kStringList, "[owner, member, guest]",
     "roles of this domain that may call (INVITE, MESSAGE, ...) its users"},
    {"calls_from_outside", homesip::SettingType::kBoolean, "true",
     "callers this server did not authenticate as one of its users (other families) may call its users"},
    {"appliances", homesip::SettingType::kStringList, "[lamp, \"*.*\"]",
     "user parts that are appliances ('*' and '?' as wildcards; Home Assistant entity ids have a dot)"},
    {"control", homesip::SettingType::kStringList, "[owner, member]",
     "roles that may MESSAGE or INVITE an appliance (outside: anyone else)"},
    {"watch", homesip::SettingType::kStringList, "[owner, member, guest]",
     "roles that may SUBSCRIBE to (or OPTIONS) an appliance (outside: anyone else)"},
    {"grants", homesip::SettingType::kStringList, "[]",
     "per-user additions, each \"AOR control|watch|call PATTERN\", e.g. \"U3@C1.D1.H1 control "
     "light.kitchen\""},
    {"binding_lookups", homesip::SettingType::kStringList, "[owner, server]",
     "who besides the user itself may OPTIONS a user's AOR (outside: anyone; needed for calls from other "
     "families when servers are not identified by TLS)"},
};
const char* const kUses[] = {homesip::TreeService::kServiceName};
const homesip::MetricSpec kMetrics[] = {
    {"refusals_total", homesip::MetricType::kCounter, "requests refused with 403 (each logged once)"},
};

const std::vector<std::string> kFamilyRoles{"owner", "member", "guest"};
const std::vector<std::string> kCallerRoles{"owner", "member", "guest", "server"};
const std::vector<std::string> kAnyone{"owner", "member", "guest", "server", "outside"};

std::vector<std::string> roles(const homesip::Settings& s, const char* key,
                               const std::vector<std::string>& allowed) {
  std::vector<std::string> out = s.get_string_list(key);
  for (const std::string& role : out)
    if (std::find(allowed.begin(), allowed.end(), role) == allowed.end()) {
      std::string names;
      for (const std::string& a : allowed) names += (names.empty() ? "" : ", ") + a;
      throw homesip::ConfigError(key, std::string(key) + ": '" + role + "' is not one of " + names);
    }
  return out;
}

// Everything but the domain, which may need the tree.
PolicyRules read_rules(const homesip::Settings& s) {
  PolicyRules rules;
  rules.register_roles = roles(s, "register", kFamilyRoles);
  rules.call_roles = roles(s, "call", kCallerRoles);
  rules.calls_from_outside = s.get_bool("calls_from_outside");
  rules.appliances = s.get_string_list("appliances");
  for (const std::string& pattern : rules.appliances)
    if (pattern.empty()) throw homesip::ConfigError("appliances", "appliances: an empty pattern");
  rules.control_roles = roles(s, "control", kAnyone);
  rules.watch_roles = roles(s, "watch", kAnyone);
  rules.lookup_roles = roles(s, "binding_lookups", kAnyone);
  for (const std::string& text : s.get_string_list("grants")) {
    std::string problem;
    const auto grant = homesip::policy::parse_grant(text, problem);
    if (!grant) throw homesip::ConfigError("grants", "grants: " + problem);
    rules.grants.push_back(*grant);
  }
  return rules;
}

void check_settings(const homesip::Settings& s) {
  read_rules(s);
  homesip::check_served_domain(s);
}

class PolicyPlugin final : public homesip::Plugin, public homesip::RequestHandler {
 public:
  explicit PolicyPlugin(homesip::PluginContext& context)
      : log_(context.logger()),
        context_(context),
        own_address_(own_address(context)),
        refusals_(context.counter("refusals_total")) {
    rules_ = read_rules(context.settings());
    rules_.domain = homesip::served_domain(context);
    if (const auto* tree = context.find<homesip::TreeService>()) {
      rules_.server_name = tree->self().name;
      rules_.server_domain = tree->self().domain;
    }
    context.add_request_handler(*this, {homesip::Phase::kAuthorize, 0, "policy"});
    log_.info("policy for ", rules_.domain);
  }

  homesip::Disposition on_request(homesip::IncomingRequest& incoming) override {
    const homesip::SipRequest& request = incoming.request();
    const auto* identity = incoming.attributes().get(homesip::kAuthenticatedIdentity);
    const auto refusal =
        homesip::policy::decide(rules_, request, identity, from_this_server(request),
                                [this](const homesip::UriView& uri) { return context_.addresses_me(uri); });
    if (!refusal) return homesip::Disposition::kContinue;
    refusals_.add();
    log_.info(
        homesip::refusal_text(request.method_name(), homesip::aor_of(request.request_uri()),
                              request.source().text(), 403, refusal->reason),
        " identity=",
        identity ? homesip::log_safe(identity->aor) + " role=" + homesip::log_safe(identity->role) : "none");
    incoming.reply(homesip::Reply(403, refusal->reason));
    return homesip::Disposition::kHandled;
  }

 private:
  // The core sends this server's own requests, its tree resolver's OPTIONS
  // among them, from an ephemeral port on its first listener's address: a
  // request from that address is this server looking up one of its users
  // (or another server on the same address). A spoofed one gets its answer
  // sent back here, not to the spoofer.
  static std::string own_address(const homesip::PluginContext& context) {
    const std::string contact = context.contact_uri("");
    const auto uri = homesip::parse_uri(contact);
    std::string host = uri ? std::string(uri->host) : std::string();
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host;
  }
  bool from_this_server(const homesip::SipRequest& request) const {
    return !own_address_.empty() && request.source().ip == own_address_;
  }

  homesip::Logger& log_;
  homesip::PluginContext& context_;
  const std::string own_address_;
  const homesip::Counter refusals_;
  PolicyRules rules_;
};

}  // namespace

HOMESIP_PLUGIN(PolicyPlugin, .name = "policy", .version = "1.0.0",
               .summary = "Who may register, call, control or watch appliances, and look up bindings",
               .settings = kSettings, .uses = kUses, .metrics = kMetrics, .check_settings = &check_settings)
