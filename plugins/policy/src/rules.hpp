// The policy's decisions, apart from the plugin's wiring: who may register,
// call, control or watch which appliance, and look up whose bindings, in this
// server's own domain. Reads the authenticated identity, never From.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/attributes.hpp"
#include "homesip/request.hpp"

namespace homesip::policy {

enum class Action { kCall, kControl, kWatch };

// "U3@C1.D1.H1 control light.kitchen": one user may do more than its role.
struct Grant {
  std::string aor;
  Action action;
  std::string pattern;  // user part of the target, '*' and '?' as wildcards
};

struct PolicyRules {
  std::string domain;  // "C1.D1.H1": requests for other domains pass
  // With the tree: this server's name ("H1") and domain ("C1.D1"), its AOR;
  // a request naming it goes where its To says.
  std::string server_name;
  std::string server_domain;
  std::vector<std::string> register_roles{"owner", "member", "guest"};
  std::vector<std::string> call_roles{"owner", "member", "guest"};
  bool calls_from_outside = true;
  std::vector<std::string> appliances{"lamp", "*.*"};
  std::vector<std::string> control_roles{"owner", "member"};
  std::vector<std::string> watch_roles{"owner", "member", "guest"};
  std::vector<Grant> grants;
  std::vector<std::string> lookup_roles{"owner", "server"};
};

// The refusal's reason phrase; nullopt: allowed (or not the policy's business).
struct Refusal {
  std::string reason;  // "Appliance Control Not Permitted For Guests"
};

// What the sender counts as here: its role when it is one of this domain's
// users, "server" for a server of the tree, else "outside" (unauthenticated,
// or a user of another family).
std::string sender_class(const PolicyRules& rules, const AuthenticatedIdentity* identity);

// Whether a URI's host and port are one of this server's listeners
// (PluginContext::addresses_me).
using AddressCheck = std::function<bool(const UriView&)>;

// `from_this_server`: the request came from one of this server's own
// listeners (its tree resolver looking up one of its users): its answer
// goes nowhere else. A user named at one of this server's addresses
// (`addresses_me`) counts as one of this domain's: the handlers after the
// policy serve it so.
std::optional<Refusal> decide(const PolicyRules& rules, const SipRequest& request,
                              const AuthenticatedIdentity* identity, bool from_this_server,
                              const AddressCheck& addresses_me = {});

// '*' any run of characters, '?' one character; everything else literally.
bool glob_match(std::string_view pattern, std::string_view text);

// Parses a `grants` entry; nullopt with `problem` set when malformed.
std::optional<Grant> parse_grant(std::string_view text, std::string& problem);

}  // namespace homesip::policy
