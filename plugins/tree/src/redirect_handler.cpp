#include "redirect_handler.hpp"

#include <memory>

namespace homesip::redirect {
namespace {

// A suspension that counts what it forwards (forwarded_total).
class CountingSuspension final : public SuspendedRequest {
 public:
  CountingSuspension(std::unique_ptr<SuspendedRequest> inner, Counter forwarded)
      : inner_(std::move(inner)), forwarded_(forwarded) {}
  const SipRequest& request() const override { return inner_->request(); }
  Attributes& attributes() override { return inner_->attributes(); }
  EventLoop& loop() override { return inner_->loop(); }
  void resume() override { inner_->resume(); }
  void reply(const Reply& reply) override { inner_->reply(reply); }
  void forward(std::string_view request_uri) override {
    inner_->forward(request_uri);
    forwarded_.add();
  }
  void forward_on_flow(std::string_view request_uri, std::string_view flow) override {
    inner_->forward_on_flow(request_uri, flow);
    forwarded_.add();
  }
  bool finished() const override { return inner_->finished(); }

 private:
  std::unique_ptr<SuspendedRequest> inner_;
  Counter forwarded_;
};

// The request as the PhoneProxy sees it: the same, with its forwards counted.
class CountingRequest final : public IncomingRequest {
 public:
  CountingRequest(IncomingRequest& inner, Counter forwarded) : inner_(inner), forwarded_(forwarded) {}
  const SipRequest& request() const override { return inner_.request(); }
  Attributes& attributes() override { return inner_.attributes(); }
  EventLoop& loop() override { return inner_.loop(); }
  void reply(const Reply& reply) override { inner_.reply(reply); }
  void forward(std::string_view request_uri) override {
    inner_.forward(request_uri);
    forwarded_.add();
  }
  void forward_on_flow(std::string_view request_uri, std::string_view flow) override {
    inner_.forward_on_flow(request_uri, flow);
    forwarded_.add();
  }
  std::unique_ptr<SuspendedRequest> suspend() override {
    return std::make_unique<CountingSuspension>(inner_.suspend(), forwarded_);
  }
  std::string_view reply_to_tag() const override { return inner_.reply_to_tag(); }
  void discard() override { inner_.discard(); }

 private:
  IncomingRequest& inner_;
  Counter forwarded_;
};

// The expiry a REGISTER asks for its first Contact; 0 for "Contact: *" or
// an unregister.
uint32_t requested_expiry(const SipRequest& sip, const ContactView& contact) {
  if (contact.wildcard) return 0;
  if (contact.expires) return *contact.expires;
  return sip.expires_header().value_or(3600);
}

// The Contact(s) of a 302, as the log shows them: "<sip%3Au1@...>,<...>".
std::string contacts_of(const Reply& reply) {
  std::string out;
  for (const ReplyContact& c : reply.contacts) {
    if (!out.empty()) out += ',';
    out += '<' + log_safe(c.uri) + '>';
  }
  return out;
}

}  // namespace

RedirectHandler::RedirectHandler(const ServerIdentity& me, RedirectPolicy policy, LocationStore& store,
                                 Logger& log, HandlerParts parts)
    : me_(me), policy_(std::move(policy)), store_(store), log_(log), parts_(std::move(parts)) {}

RequestFacts RedirectHandler::facts_of(const SipRequest& sip) const {
  RequestFacts facts;
  facts.method = sip.method();
  facts.method_name = sip.method_name();
  facts.target = facts.method == Method::kRegister ? sip.to_uri() : sip.request_uri();
  facts.to = sip.to_uri();
  if (parts_.addresses_me) {
    facts.target_is_my_address = !facts.target.host.empty() && parts_.addresses_me(facts.target);
    facts.to_is_my_address = !facts.to.host.empty() && parts_.addresses_me(facts.to);
  }
  facts.max_forwards = sip.max_forwards();
  return facts;
}

// A direct child server registering (its User-Agent says homesipd) is probed
// from now on; one unregistering is forgotten at once (a graceful stop).
void RedirectHandler::note_child_server(const SipRequest& sip, int64_t now) {
  if (!parts_.monitor || !tree::is_server_user_agent(sip.user_agent())) return;
  const UriView to = sip.to_uri();
  if (classify(me_, to).relation != Relation::kDirectChild) return;
  const std::vector<ContactView> contacts = sip.contacts();
  if (contacts.empty()) return;  // a query of the bindings
  parts_.monitor->on_register(aor_of(to), contacts.front().uri, requested_expiry(sip, contacts.front()), now);
}

void RedirectHandler::answer(IncomingRequest& request, const Reply& reply, std::string_view what) {
  log_.debug(request.request().method_name(), " ", what, ": ", reply.status);
  log_outcome(request.request(), reply);
  if (reply.status == 302) parts_.redirects.add();
  request.reply(reply);
}

// At info, one line per call redirected (a REGISTER's 302 is a step of
// registering, debug) and per request refused with 403/404, for people and
// fail2ban; other answers are the protocol at work (debug above).
void RedirectHandler::log_outcome(const SipRequest& sip, const Reply& reply) {
  if (!log_.enabled(LogLevel::kInfo)) return;
  const UriView target = sip.method() == Method::kRegister ? sip.to_uri() : sip.request_uri();
  if (reply.status == 302 && sip.method() != Method::kRegister)
    log_.info("redirect method=", log_safe(sip.method_name()), " aor=", log_safe(aor_of(target)),
              " source=", sip.source().text(), " to=", contacts_of(reply));
  else if (reply.status == 403 || reply.status == 404)
    log_.info(
        refusal_text(sip.method_name(), aor_of(target), sip.source().text(), reply.status, reply.reason));
}

Disposition RedirectHandler::on_request(IncomingRequest& request) {
  const SipRequest& sip = request.request();
  // A phone using this server as its outbound proxy: resolve and forward
  // for it (its REGISTER is judged like any other). A request addressed to
  // this server's own address is not forwarded (it would come back here):
  // the rules below decide it by its To.
  const bool to_my_address = parts_.addresses_me && parts_.addresses_me(sip.request_uri());
  if (parts_.phones && sip.routed_here() && sip.method() != Method::kRegister && !to_my_address) {
    CountingRequest counted(request, parts_.forwarded);
    return parts_.phones->on_request(counted);
  }
  const RequestFacts facts = facts_of(sip);
  if (facts.method == Method::kRegister) note_child_server(sip, request.loop().unix_now());
  const Decision decision = decide(me_, policy_, facts);
  switch (decision.action) {
    case Action::kContinue:
      return Disposition::kContinue;
    case Action::kReply:
      answer(request, decision.reply, aor_of(facts.target));
      return Disposition::kHandled;
    case Action::kLookup:
      break;
  }
  // Keepalives found the child server dead: no need to ask the store.
  if (decision.target == LookupTarget::kNextServer && parts_.monitor &&
      parts_.monitor->offline(decision.lookup_aor)) {
    answer(request, Reply(404, "Next Server Offline"), decision.lookup_aor + " (offline)");
    return Disposition::kHandled;
  }
  // Suspended while the store looks; shared so the callback stays copyable
  // (the store may call it before lookup() returns).
  std::shared_ptr<SuspendedRequest> pending = request.suspend();
  const LookupTarget target = decision.target;
  store_.lookup(decision.lookup_aor, [this, pending, target, aor = decision.lookup_aor](
                                         StoreStatus status, const BindingList& bindings) {
    const int64_t now = pending->loop().unix_now();
    // A user reached only on its connection is reached through here: a 302
    // would send the caller where it cannot go. An OPTIONS is a lookup of
    // the bindings (a server resolving for its phone): it gets the 302.
    const bool call = target == LookupTarget::kUser && pending->request().method() != Method::kOptions;
    if (const Binding* flow = call ? binding_on_flow(status, bindings, now) : nullptr) {
      log_.debug(pending->request().method_name(), " via ", aor, ": forwarded on flow ", flow->source);
      parts_.forwarded.add();
      pending->forward_on_flow(flow->contact, flow->source);
      return;
    }
    const Reply reply = answer_lookup(target, status, bindings, now, aor, parts_.edge);
    log_.debug(pending->request().method_name(), " via ", aor, ": ", reply.status);
    log_outcome(pending->request(), reply);
    if (reply.status == 302) parts_.redirects.add();
    pending->reply(reply);
  });
  return Disposition::kSuspended;
}

}  // namespace homesip::redirect
