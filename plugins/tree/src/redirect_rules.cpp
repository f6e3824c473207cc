#include "redirect_rules.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>

#include "homesip/settings.hpp"
#include "homesip/uri.hpp"

namespace homesip::redirect {
namespace {

Decision pass() { return {}; }

Decision answer(Reply reply) {
  Decision d;
  d.action = Action::kReply;
  d.reply = std::move(reply);
  return d;
}

Decision look_up(std::string aor, LookupTarget target) {
  Decision d;
  d.action = Action::kLookup;
  d.lookup_aor = std::move(aor);
  d.target = target;
  return d;
}

bool sip_scheme(const UriView& uri) { return uri.scheme == "sip" || uri.scheme == "sips"; }

bool redirected(const RedirectPolicy& policy, std::string_view method) {
  return std::find(policy.redirect_methods.begin(), policy.redirect_methods.end(), method) !=
         policy.redirect_methods.end();
}

// Paper STEP 2/4: a REGISTER for a name below a child server is sent on to
// that child; only names directly under me are bound here (by the registrar).
Decision decide_register(const ServerIdentity& me, const RequestFacts& request) {
  const UriView& to = request.target;
  // No AOR to judge: the registrar has its own answer for that.
  if (to.user.empty() || !sip_scheme(to)) return pass();
  // Dots in a user part name an appliance's entity, routed as a user but never registered.
  if (to.user.find('.') != std::string_view::npos) return answer(Reply(404, "Not A Name In This Tree"));
  const Jurisdiction j = classify(me, to);
  switch (j.relation) {
    case Relation::kDirectChild:
      return pass();
    case Relation::kInSubtree:
      if (request.max_forwards == 0) return answer(Reply(483, "Too Many Hops"));
      return look_up(j.child_aor, LookupTarget::kNextServer);
    // A name that can never exist in the tree is served by no server: 404,
    // as for any address this server does not serve (RFC 3261 21.4.5).
    case Relation::kInvalid:
      return answer(Reply(404, "Not A Name In This Tree"));
    case Relation::kSelf:
    case Relation::kNotMine:
      break;
  }
  // A server registers with its parent, never with itself or a stranger.
  return answer(Reply(404, "Not Found"));
}

// The URI names this server: its AOR ("D1@C1") or one of its addresses
// ("sip:D1@127.0.0.1:5120", "sip:127.0.0.1:5120").
bool names_me(const ServerIdentity& me, const UriView& uri, bool is_my_address) {
  if (!sip_scheme(uri)) return false;
  if (is_my_address) return true;
  return !uri.user.empty() && classify(me, uri).relation == Relation::kSelf;
}

Decision decide_call(const ServerIdentity& me, const RedirectPolicy& policy, const RequestFacts& request) {
  UriView uri = request.target;
  if (names_me(me, uri, request.target_is_my_address)) {
    // RFC 3261 8.1.3.4: a client that followed a 302 to this server kept To,
    // which names where it really wants to go.
    if (request.to.user.empty() || names_me(me, request.to, request.to_is_my_address)) return pass();
    uri = request.to;
  }
  if (uri.user.empty() || !sip_scheme(uri)) return pass();  // the server itself answers
  const Jurisdiction j = classify(me, uri);
  if (j.relation == Relation::kSelf) return pass();
  if (j.relation == Relation::kInvalid) return answer(Reply(404, "Not Found"));
  // Every answer below sends the client on; one that arrived with no hops
  // left must not be (RFC 3261 16.3 step 3, applied to redirection).
  if (request.max_forwards == 0) return answer(Reply(483, "Too Many Hops"));
  if (j.relation == Relation::kDirectChild) return look_up(aor_of(uri), LookupTarget::kUser);
  if (j.relation == Relation::kInSubtree) return look_up(j.child_aor, LookupTarget::kNextServer);
  // Not in my subtree: the top knows every branch and sends it down; the top
  // itself has nowhere else to send it.
  if (policy.top.empty()) return answer(Reply(404, "Not Found"));
  Reply up(302, "Moved Temporarily");
  up.contacts.push_back(ReplyContact{policy.top, {}, {}});
  return answer(std::move(up));
}

Reply store_failure(StoreStatus status) {
  if (status == StoreStatus::kUnavailable)
    return Reply(503, "Location Store Unavailable").header("Retry-After", "5");
  return Reply(500, "Location Store Error");
}

}  // namespace

Decision decide(const ServerIdentity& me, const RedirectPolicy& policy, const RequestFacts& request) {
  if (request.method == Method::kRegister) return decide_register(me, request);
  if (!redirected(policy, request.method_name)) return pass();
  return decide_call(me, policy, request);
}

namespace {

// RFC 3261's IPv4address: four dot-separated groups of 1 to 3 digits (leading
// zeros allowed), each at most 255. Every 302 asks this of each contact: a
// walk over the text, no copy and no sscanf.
std::optional<std::array<unsigned, 4>> ipv4_octets(std::string_view host) {
  std::array<unsigned, 4> octets{};
  size_t at = 0;
  for (size_t i = 0; i < octets.size(); ++i) {
    if (i > 0 && (at >= host.size() || host[at++] != '.')) return std::nullopt;
    size_t digits = 0;
    unsigned value = 0;
    for (; at < host.size() && digits < 3 && host[at] >= '0' && host[at] <= '9'; ++at, ++digits)
      value = value * 10 + static_cast<unsigned>(host[at] - '0');
    if (digits == 0 || value > 255) return std::nullopt;
    octets[i] = value;
  }
  if (at != host.size()) return std::nullopt;
  return octets;
}

// Two IPv4 literals for the same address ("192.168.001.020", "192.168.1.20").
bool same_ipv4(std::string_view a, std::string_view b) {
  const auto left = ipv4_octets(a);
  return left && left == ipv4_octets(b);
}

// RFC 1918 and RFC 6598 (carrier-grade NAT) IPv4 addresses: a Contact there
// cannot be reached from outside the terminal's own network.
bool is_private_ipv4(std::string_view host) {
  const auto octets = ipv4_octets(host);
  if (!octets) return false;
  const unsigned a = (*octets)[0], b = (*octets)[1];
  return a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168) ||
         (a == 100 && b >= 64 && b <= 127);
}

// "udp:203.0.113.5:40312" (how the registrar writes a source) as its parts.
struct SourceParts {
  std::string_view transport, ip, port;
};
std::optional<SourceParts> split_source(std::string_view source) {
  const size_t first = source.find(':');
  const size_t last = source.rfind(':');
  if (first == std::string_view::npos || last == first) return std::nullopt;
  return SourceParts{source.substr(0, first), source.substr(first + 1, last - first - 1),
                     source.substr(last + 1)};
}

}  // namespace

std::string reachable_contact(const Binding& binding) {
  const std::string& contact = binding.contact;
  const std::optional<UriView> uri = parse_uri(contact);
  const std::optional<SourceParts> source = split_source(binding.source);
  if (!uri || !source) return contact;
  if (!is_private_ipv4(uri->host) || same_ipv4(uri->host, source->ip)) return contact;
  // The views point into `contact`: replace host[:port] there, keep the rest.
  const size_t host_start = static_cast<size_t>(uri->host.data() - contact.data());
  const std::string_view hostport_end = uri->port.empty() ? uri->host : uri->port;
  const size_t host_end = static_cast<size_t>(hostport_end.data() + hostport_end.size() - contact.data());
  std::string rewritten = contact.substr(0, host_start);
  rewritten.append(source->ip).append(":").append(source->port);
  if (source->transport != "udp" && !uri_param(uri->params, "transport"))
    rewritten.append(";transport=").append(source->transport);
  rewritten += contact.substr(host_end);
  return rewritten;
}

Reply answer_lookup(LookupTarget target, StoreStatus status, const BindingList& bindings, int64_t now,
                    std::string_view aor, std::string_view edge) {
  if (status != StoreStatus::kOk) return store_failure(status);
  Reply moved(302, "Moved Temporarily");
  bool flow_listed = false;
  for (const Binding& b : bindings) {
    if (b.expires_at <= now) continue;
    if (target == LookupTarget::kUser && !edge.empty() && !aor.empty() && on_flow(b)) {
      // Every flow is reached the same way, through here: listed once.
      if (!std::exchange(flow_listed, true))
        moved.contacts.push_back(ReplyContact{flow_contact(aor, edge), {}, b.q_millis});
      continue;
    }
    moved.contacts.push_back(ReplyContact{reachable_contact(b), {}, b.q_millis});
  }
  // The store lists highest q first; keep that order but be sure of it, since
  // the client tries contacts in order.
  std::stable_sort(moved.contacts.begin(), moved.contacts.end(),
                   [](const ReplyContact& a, const ReplyContact& b) { return *a.q_millis > *b.q_millis; });
  if (target == LookupTarget::kNextServer) {
    if (moved.contacts.empty()) return Reply(404, "Next Server Offline");
    moved.contacts.resize(1);  // one next hop: the child server's best contact
    moved.contacts[0].q_millis.reset();
    return moved;
  }
  if (moved.contacts.empty()) return Reply(480, "Temporarily Unavailable");
  return moved;
}

bool on_flow(const Binding& binding) {
  const std::optional<SourceParts> source = split_source(binding.source);
  if (!source || (source->transport != "tls" && source->transport != "tcp")) return false;
  const std::optional<UriView> contact = parse_uri(binding.contact);
  if (!contact) return false;
  // A Contact over a connection (sips:, ;transport=tls or tcp) is reached by
  // one: the phone's own. One behind a NAT is reached nowhere else either.
  const std::optional<std::string_view> transport = uri_param(contact->params, "transport");
  const bool over_a_connection =
      contact->scheme == "sips" ||
      (transport && (uri_detail::iequals(*transport, "tls") || uri_detail::iequals(*transport, "tcp")));
  return over_a_connection || (is_private_ipv4(contact->host) && !same_ipv4(contact->host, source->ip));
}

std::string flow_contact(std::string_view aor, std::string_view edge) {
  // The Route's value escaped as a URI header value (RFC 3261 25.1: hvalue).
  const std::string route = "<" + std::string(edge) + ";lr>";
  static constexpr std::string_view kKept = "-_.!~*'()[]/?:+$";
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string escaped;
  for (const char c : route) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || kKept.find(c) != std::string_view::npos) {
      escaped.push_back(c);
    } else {
      escaped.push_back('%');
      escaped.push_back(kDigits[u >> 4]);
      escaped.push_back(kDigits[u & 15]);
    }
  }
  return "sip:" + std::string(aor) + "?Route=" + escaped;
}

const Binding* best_binding(const BindingList& bindings, int64_t now) {
  const Binding* best = nullptr;
  for (const Binding& b : bindings)
    if (b.expires_at > now && (!best || b.q_millis > best->q_millis)) best = &b;
  return best;
}

const Binding* binding_on_flow(StoreStatus status, const BindingList& bindings, int64_t now) {
  if (status != StoreStatus::kOk) return nullptr;
  const Binding* best = best_binding(bindings, now);
  return best && on_flow(*best) && parse_uri(best->contact) ? best : nullptr;
}

void check_policy(const RedirectPolicy& policy) {
  for (const std::string& m : policy.redirect_methods) {
    if (m.empty() || !valid_label(m))
      throw ConfigError("redirect_methods", "'" + m + "' is not a SIP method name");
    // REGISTER is always judged (paper STEP 2/4); ACK, CANCEL and BYE belong
    // to a dialog or transaction the redirect server never saw.
    if (m == "REGISTER" || m == "ACK" || m == "CANCEL" || m == "BYE")
      throw ConfigError("redirect_methods", m + " cannot be redirected");
  }
  if (!policy.top.empty()) {
    const std::optional<UriView> top = parse_uri(policy.top);
    if (!top || !sip_scheme(*top))
      throw ConfigError("top",
                        "top must be a sip: or sips: URI, e.g. sip:192.0.2.1:5060, not '" + policy.top + "'");
  }
}

}  // namespace homesip::redirect
