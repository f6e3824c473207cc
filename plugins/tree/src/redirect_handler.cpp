#include "redirect_handler.hpp"

#include <memory>

namespace homesip::redirect {

RedirectHandler::RedirectHandler(const ServerIdentity& me, RedirectPolicy policy, LocationStore& store,
                                 Logger& log)
    : me_(me), policy_(std::move(policy)), store_(store), log_(log) {}

Disposition RedirectHandler::on_request(IncomingRequest& request) {
  const SipRequest& sip = request.request();
  RequestFacts facts;
  facts.method = sip.method();
  facts.method_name = sip.method_name();
  facts.target = facts.method == Method::kRegister ? sip.to_uri() : sip.request_uri();
  facts.max_forwards = sip.max_forwards();
  Decision decision = decide(me_, policy_, facts);
  switch (decision.action) {
    case Action::kContinue:
      return Disposition::kContinue;
    case Action::kReply:
      log_.debug(facts.method_name, " ", aor_of(facts.target), ": ", decision.reply.status);
      request.reply(decision.reply);
      return Disposition::kHandled;
    case Action::kLookup:
      break;
  }
  // Suspended while the store looks; shared so the callback stays copyable
  // (the store may call it before lookup() returns).
  std::shared_ptr<SuspendedRequest> pending = request.suspend();
  const LookupTarget target = decision.target;
  store_.lookup(decision.lookup_aor, [this, pending, target, aor = decision.lookup_aor](
                                         StoreStatus status, const BindingList& bindings) {
    const Reply reply = answer_lookup(target, status, bindings, pending->loop().unix_now());
    log_.debug(pending->request().method_name(), " via ", aor, ": ", reply.status);
    pending->reply(reply);
  });
  return Disposition::kSuspended;
}

}  // namespace homesip::redirect
