#include "rules.hpp"

#include <algorithm>
#include <sstream>

#include "homesip/uri.hpp"

namespace homesip::policy {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

bool listed(const std::vector<std::string>& roles, std::string_view role) {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string_view domain_part(std::string_view aor) {
  const size_t at = aor.rfind('@');
  return at == std::string_view::npos ? std::string_view() : aor.substr(at + 1);
}

// "Guests" in "Appliance Control Not Permitted For Guests".
std::string who(std::string_view sender) {
  if (sender == "owner") return "Owners";
  if (sender == "member") return "Members";
  if (sender == "guest") return "Guests";
  if (sender == "server") return "Servers";
  if (sender == "outside") return "Outside Callers";
  return "This Role";
}

bool granted(const PolicyRules& rules, const AuthenticatedIdentity* identity, Action action,
             std::string_view target_user) {
  if (!identity) return false;
  return std::any_of(rules.grants.begin(), rules.grants.end(), [&](const Grant& g) {
    return g.action == action && iequals(g.aor, identity->aor) && glob_match(g.pattern, target_user);
  });
}

std::optional<Refusal> decide_register(const PolicyRules& rules, const SipRequest& request,
                                       const AuthenticatedIdentity* identity) {
  if (!identity) return Refusal{"Registration Needs Authentication"};
  if (!iequals(identity->aor, aor_of(request.to_uri()))) return Refusal{"Not Your Binding"};
  if (identity->role == "server") return std::nullopt;  // a server registers its own AOR
  const std::string sender = sender_class(rules, identity);
  if (listed(rules.register_roles, sender)) return std::nullopt;
  return Refusal{"Registration Not Permitted For " + who(sender)};
}

std::optional<Refusal> decide_appliance(const PolicyRules& rules, const SipRequest& request,
                                        const AuthenticatedIdentity* identity, std::string_view device) {
  const bool watch = request.method() == Method::kSubscribe || request.method() == Method::kOptions;
  const std::string sender = sender_class(rules, identity);
  if (listed(watch ? rules.watch_roles : rules.control_roles, sender)) return std::nullopt;
  if (granted(rules, identity, watch ? Action::kWatch : Action::kControl, device)) return std::nullopt;
  // Control implies watching what one controls.
  if (watch && granted(rules, identity, Action::kControl, device)) return std::nullopt;
  return Refusal{std::string(watch ? "Appliance Watching" : "Appliance Control") + " Not Permitted For " +
                 who(sender)};
}

std::optional<Refusal> decide_user(const PolicyRules& rules, const SipRequest& request,
                                   const AuthenticatedIdentity* identity, bool from_this_server,
                                   std::string_view user) {
  const std::string target = std::string(user) + "@" + rules.domain;
  const std::string sender = sender_class(rules, identity);
  if (request.method() == Method::kOptions) {  // a lookup of the user's bindings
    if (from_this_server || (identity && iequals(identity->aor, target))) return std::nullopt;
    if (listed(rules.lookup_roles, sender)) return std::nullopt;
    return Refusal{"Binding Lookup Not Permitted For " + who(sender)};
  }
  if (listed(rules.call_roles, sender)) return std::nullopt;
  // Servers relay callers from elsewhere: for calls they count as outside.
  if ((sender == "outside" || sender == "server") && rules.calls_from_outside) return std::nullopt;
  if (granted(rules, identity, Action::kCall, user)) return std::nullopt;
  return Refusal{"Calls Not Permitted For " + who(sender)};
}

// A request for `user` of this domain: an appliance or a user.
std::optional<Refusal> decide_target(const PolicyRules& rules, const SipRequest& request,
                                     const AuthenticatedIdentity* identity, bool from_this_server,
                                     std::string_view user) {
  const bool appliance = std::any_of(rules.appliances.begin(), rules.appliances.end(),
                                     [&](const std::string& p) { return glob_match(p, user); });
  if (appliance) return decide_appliance(rules, request, identity, user);
  return decide_user(rules, request, identity, from_this_server, user);
}

}  // namespace

std::string sender_class(const PolicyRules& rules, const AuthenticatedIdentity* identity) {
  if (!identity) return "outside";
  if (identity->role == "server") return "server";
  if (iequals(domain_part(identity->aor), rules.domain)) return identity->role;
  return "outside";
}

std::optional<Refusal> decide(const PolicyRules& rules, const SipRequest& request,
                              const AuthenticatedIdentity* identity, bool from_this_server,
                              const AddressCheck& addresses_me) {
  const auto is_mine = [&](const UriView& uri) { return addresses_me && addresses_me(uri); };
  const Method method = request.method();
  if (method == Method::kAck || method == Method::kCancel) return std::nullopt;
  if (method == Method::kRegister) {
    if (!iequals(request.to_uri().host, rules.domain) && !is_mine(request.to_uri())) return std::nullopt;
    return decide_register(rules, request, identity);
  }
  // Other domains are the tree's to redirect; the server itself (no user
  // part, or its own name at its address) is no one's. A user named at this
  // server's address is this domain's: the appliance hub serves
  // entity@address (a subscription's Contact) as its own.
  const UriView target = request.request_uri();
  const bool at_my_address = is_mine(target);
  const bool my_aor = !rules.server_name.empty() && iequals(target.user, rules.server_name) &&
                      iequals(target.host, rules.server_domain);
  const bool names_server =
      target.user.empty() || my_aor || (at_my_address && iequals(target.user, rules.server_name));
  if (!names_server && (at_my_address || iequals(target.host, rules.domain)))
    if (auto refusal = decide_target(rules, request, identity, from_this_server, target.user)) return refusal;
  // A request naming this server by its address or its AOR goes where its To
  // says (the tree's rule, RFC 3261 8.1.3.4: a client that followed a 302
  // here kept To): a To in this domain is decided as well.
  if (at_my_address || my_aor) {
    const UriView to = request.to_uri();
    const bool to_my_address = is_mine(to);
    if (!to.user.empty() && (iequals(to.host, rules.domain) || to_my_address) &&
        !(to_my_address && iequals(to.user, rules.server_name)))
      return decide_target(rules, request, identity, from_this_server, to.user);
  }
  return std::nullopt;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative with one backtrack point: linear enough for short names.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<Grant> parse_grant(std::string_view text, std::string& problem) {
  std::istringstream words{std::string(text)};
  std::string aor, action, pattern, extra;
  if (!(words >> aor >> action >> pattern) || (words >> extra)) {
    problem = "'" + std::string(text) + "' is not \"AOR control|watch|call PATTERN\"";
    return std::nullopt;
  }
  const size_t at = aor.find('@');
  if (at == 0 || at == std::string::npos || at + 1 == aor.size()) {
    problem = "'" + aor + "' is no AOR such as U3@C1.D1.H1";
    return std::nullopt;
  }
  Grant grant{aor, Action::kCall, pattern};
  if (action == "control")
    grant.action = Action::kControl;
  else if (action == "watch")
    grant.action = Action::kWatch;
  else if (action != "call") {
    problem = "'" + action + "' is not control, watch or call";
    return std::nullopt;
  }
  return grant;
}

}  // namespace homesip::policy
