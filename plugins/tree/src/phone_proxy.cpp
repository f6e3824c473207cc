#include "phone_proxy.hpp"

#include <memory>
#include <string>
#include <string_view>

#include "homesip/uri.hpp"
#include "jurisdiction.hpp"
#include "redirect_rules.hpp"

namespace homesip::tree {

using namespace homesip::redirect;

namespace {

// The URI as text again, from its parts (a forward keeps the Request-URI).
std::string text_of(const UriView& uri) {
  std::string text(uri.scheme);
  text.push_back(':');
  if (!uri.user.empty()) text.append(uri.user).push_back('@');
  text.append(uri.host);
  if (!uri.port.empty()) text.append(":").append(uri.port);
  if (!uri.params.empty()) text.append(";").append(uri.params);
  if (!uri.headers.empty()) text.append("?").append(uri.headers);
  return text;
}

// Every name of the tree ends in the top's name: its first label ("C1" of
// "C1.D1.H1"). A host that starts otherwise (an IP address, example.org) is
// a place the core can reach on its own.
bool names_the_tree(const ServerIdentity& me, const UriView& uri) {
  const std::string mine = me.child_domain();
  const std::string_view root = std::string_view(mine).substr(0, mine.find('.'));
  const std::string_view first = uri.host.substr(0, uri.host.find('.'));
  return uri_detail::iequals(first, root);
}

// A request for the server itself: it is no user and cannot be proxied, so
// it is answered as the server answers its own AOR.
Disposition answer_as_server(IncomingRequest& request) {
  switch (request.request().method()) {
    case Method::kAck:  // of a final answer given here: nothing to send on
      break;
    case Method::kOptions:
      request.reply(Reply(200, "OK"));
      break;
    case Method::kBye:
    case Method::kCancel:
      request.reply(Reply(481, "Call/Transaction Does Not Exist"));
      break;
    default:
      request.reply(Reply(404, "Not A User"));
      break;
  }
  return Disposition::kHandled;
}

// What the phone is told when the callee cannot be reached.
Reply answer_unresolved(const Resolution& resolution) {
  Reply reply(resolution.status, resolution.reason);
  if (resolution.status == 503) reply.header("Retry-After", "5");
  return reply;
}

void forward(SuspendedRequest& pending, Logger& log, const std::string& aor, const std::string& contact) {
  // A binding may hold any URI; only a SIP one can be forwarded to.
  if (!parse_uri(contact)) {
    log.debug("phone ", pending.request().method_name(), " ", aor, ": contact ", contact, " is not SIP");
    pending.reply(Reply(502, "Callee Contact Not SIP"));
    return;
  }
  log.debug("phone ", pending.request().method_name(), " ", aor, " forwarded to ", contact);
  pending.forward(contact);
}

// A user of this family: its best unexpired binding, on its flow when it
// registered over a connection, else where the NAT lets it be reached.
Disposition forward_to_binding(IncomingRequest& request, LocationStore& store, Logger& log, std::string aor) {
  std::shared_ptr<SuspendedRequest> pending = request.suspend();
  store.lookup(aor, [&log, pending, aor](StoreStatus status, const BindingList& bindings) {
    const int64_t now = pending->loop().unix_now();
    if (const Binding* flow = binding_on_flow(status, bindings, now)) {
      log.debug("phone ", pending->request().method_name(), " ", aor, " forwarded on flow ", flow->source);
      pending->forward_on_flow(flow->contact, flow->source);
      return;
    }
    // The redirect server's 302 to the same user lists its contacts best first.
    const Reply moved = answer_lookup(LookupTarget::kUser, status, bindings, now);
    if (moved.status != 302) {
      log.debug("phone ", pending->request().method_name(), " ", aor, ": ", moved.status);
      pending->reply(moved);
      return;
    }
    forward(*pending, log, aor, moved.contacts.front().uri);
  });
  return Disposition::kSuspended;
}

// Anyone else: found through the tree, as a DNS resolver follows referrals.
Disposition forward_through_tree(IncomingRequest& request, TreeResolver& resolver, Logger& log,
                                 std::string aor) {
  std::shared_ptr<SuspendedRequest> pending = request.suspend();
  resolver.resolve(request.loop(), aor, [&log, pending, aor](const Resolution& resolution) {
    if (resolution.status != 302 || resolution.contacts.empty()) {
      log.debug("phone ", pending->request().method_name(), " ", aor, ": ", resolution.status, " ",
                resolution.reason);
      pending->reply(answer_unresolved(resolution));
      return;
    }
    forward(*pending, log, aor, resolution.contacts.front());
  });
  return Disposition::kSuspended;
}

}  // namespace

PhoneProxy::PhoneProxy(const ServerIdentity& me, LocationStore& store, TreeResolver& resolver, Logger& log)
    : me_(me), store_(store), resolver_(resolver), log_(log) {}

Disposition PhoneProxy::on_request(IncomingRequest& request) {
  const SipRequest& sip = request.request();
  const bool ack = sip.method() == Method::kAck;
  const UriView target = sip.request_uri();
  if (sip.max_forwards() == 0) {
    // RFC 3261 16.3 step 3; an ACK is never answered, only dropped.
    log_.debug("phone ", sip.method_name(), " ", aor_of(target), ": no hops left");
    if (!ack) request.reply(Reply(483, "Too Many Hops"));
    return Disposition::kHandled;
  }
  if (target.empty()) {  // the core lets only sip: and sips: in; be sure before forwarding
    if (!ack) request.reply(Reply(416, "Unsupported URI Scheme"));
    return Disposition::kHandled;
  }
  if (!names_the_tree(me_, target)) {
    // A contact inside a dialog (ACK, BYE) or a foreign domain: sent on as it is.
    const std::string as_is = text_of(target);
    log_.debug("phone ", sip.method_name(), " forwarded as is to ", as_is);
    request.forward(as_is);
    return Disposition::kHandled;
  }
  // A tree domain without a user names a server, not a person.
  if (target.user.empty()) return answer_as_server(request);
  const Jurisdiction place = classify(me_, target.user, target.host);
  switch (place.relation) {
    case Relation::kInvalid:
      log_.debug("phone ", sip.method_name(), " ", aor_of(target), ": not a tree name");
      request.reply(Reply(404, "Not A Name In This Tree"));
      return Disposition::kHandled;
    case Relation::kSelf:
      return answer_as_server(request);
    case Relation::kDirectChild:
      return forward_to_binding(request, store_, log_, aor_of(target));
    case Relation::kInSubtree:
    case Relation::kNotMine:
      break;
  }
  return forward_through_tree(request, resolver_, log_, aor_of(target));
}

}  // namespace homesip::tree
