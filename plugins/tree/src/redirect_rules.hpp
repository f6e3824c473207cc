// The redirect server's decisions as pure functions, so every answer can be
// tested without a SIP stack or a store. A request is decided in two steps:
// decide() looks only at the request; when the answer depends on bindings it
// names the AOR to look up, and answer_lookup() turns the store's result into
// the reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/location_store.hpp"
#include "homesip/reply.hpp"
#include "homesip/request.hpp"
#include "homesip/tree.hpp"
#include "jurisdiction.hpp"

namespace homesip::redirect {

struct RedirectPolicy {
  // The top server's URI, where names outside my subtree go (it sends them
  // down); empty at the top itself, where such a name is 404.
  std::string top;
  std::vector<std::string> redirect_methods;  // method names redirected (besides REGISTER)
};

// What decide() needs from a request.
struct RequestFacts {
  Method method = Method::kUnknown;
  std::string_view method_name;
  UriView target;  // the To URI of a REGISTER, the Request-URI otherwise
  UriView to;      // the To URI
  // The target's / To's host and port are one of this server's listeners
  // (PluginContext::addresses_me): a client that followed a 302 to this
  // server put its address into the Request-URI.
  bool target_is_my_address = false;
  bool to_is_my_address = false;
  uint32_t max_forwards = 70;
};

enum class Action {
  kContinue,  // not for the redirect plugin: the next handler (registrar, core) answers
  kReply,     // answer `reply` now
  kLookup,    // look `lookup_aor` up, then answer with answer_lookup(`target`, ...)
};

// What the looked-up bindings stand for: a child server on the path (one
// contact: the next server) or a user of mine (every contact).
enum class LookupTarget { kNextServer, kUser };

struct Decision {
  Action action = Action::kContinue;
  Reply reply;
  std::string lookup_aor;
  LookupTarget target = LookupTarget::kUser;
};

// A request addressed to this server (by its AOR or its address) is decided
// by its To instead: an RFC 3261 client following a 302 replaces the
// Request-URI with the Contact and keeps To (8.1.3.4). When To names this
// server too, or has no user, the request is passed on (the core answers).
Decision decide(const ServerIdentity& me, const RedirectPolicy& policy, const RequestFacts& request);

// Bindings whose expires_at <= now are ignored (a store may hand back one that
// expired a moment ago).
//
// `edge`: this server's own URI (PluginContext::contact_uri("")). With it, a
// user's binding on a flow (on_flow()) is answered as reached through this
// server (flow_contact()); without it, as registered.
Reply answer_lookup(LookupTarget target, StoreStatus status, const BindingList& bindings, int64_t now,
                    std::string_view aor = {}, std::string_view edge = {});

// True when the binding came over TCP or TLS ("tls:192.0.2.7:40112") and its
// Contact is reached over a connection too (sips:, ;transport=tls or tcp) or
// is a private address behind a NAT: the phone is then reached on the
// connection it registered over, its flow (RFC 5626), and only by the server
// that holds it, since its Contact may name a port nobody can connect to
// (baresip's TLS listener has no certificate; a client port). A Contact over
// UDP is a listener of the phone's own, reached there as any other.
bool on_flow(const Binding& binding);

// The Contact others get for such a binding: the AOR with a Route to this
// server embedded (RFC 3261 19.1.1), "sip:U1@C1.D1.H1?Route=%3Csip:192.0.2.5:5060%3Blr%3E".
// Whoever follows it (a server forwarding for its phone, a phone following
// the 302) sends the request here, routed, and this server forwards it on
// the flow.
std::string flow_contact(std::string_view aor, std::string_view edge);

// The binding a request for the user goes to: the best (highest q, the
// store's order among equals) unexpired one; null when none.
const Binding* best_binding(const BindingList& bindings, int64_t now);

// The binding a request for the user goes to on its flow: the best one when
// the lookup succeeded and it is on a flow with a SIP Contact; null when the
// request goes the usual way (a 302, or forwarded to the Contact).
const Binding* binding_on_flow(StoreStatus status, const BindingList& bindings, int64_t now);

// Where a terminal can really be reached. A terminal behind NAT registers a
// Contact with its private address; the registrar also kept the address the
// REGISTER came from ("udp:203.0.113.5:40312"). When the Contact's host is a
// private address (RFC 1918, RFC 6598) other than that source IP, the source
// is what works from outside, so the 302 points there (keeping the user part
// and the transport). Public and named Contacts are left as registered.
std::string reachable_contact(const Binding& binding);

// Throws ConfigError naming the key when a method name can't be redirected
// or `top` is neither empty nor a sip:/sips: URI.
void check_policy(const RedirectPolicy& policy);

}  // namespace homesip::redirect
