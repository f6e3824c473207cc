// The tree plugin's request handler (phase kRouting, before the registrar).
// A phone's request routed here (not REGISTER) goes to the PhoneProxy, which
// forwards it; everything else is fed to decide() and, when the answer depends
// on bindings, suspended until the location store's lookup returns. A child
// server known offline gets 404 Next Server Offline at once; REGISTERs of
// direct child servers tell the ChildMonitor who they are.
// Stateless: nothing is kept between requests and nothing is written.
#pragma once

#include <functional>
#include <string>

#include "child_monitor.hpp"
#include "homesip/admin.hpp"
#include "homesip/handler.hpp"
#include "homesip/log.hpp"
#include "homesip/tree.hpp"
#include "phone_proxy.hpp"
#include "redirect_rules.hpp"

namespace homesip::redirect {

struct HandlerParts {
  // PluginContext::addresses_me: the URI's host and port are one of ours.
  std::function<bool(const UriView&)> addresses_me;
  tree::ChildMonitor* monitor = nullptr;  // none: children are online while bound
  tree::PhoneProxy* phones = nullptr;     // none: routed requests are redirected like any other
  Counter redirects;                      // 302s answered
  Counter forwarded;                      // phones' requests forwarded
  std::string edge;                       // this server's URI, for phones on flows (answer_lookup)
};

class RedirectHandler final : public RequestHandler {
 public:
  // `me`, `store`, `log` and the parts' objects must outlive the handler.
  RedirectHandler(const ServerIdentity& me, RedirectPolicy policy, LocationStore& store, Logger& log,
                  HandlerParts parts = {});
  Disposition on_request(IncomingRequest& request) override;

 private:
  RequestFacts facts_of(const SipRequest& sip) const;
  void note_child_server(const SipRequest& sip, int64_t now);
  void answer(IncomingRequest& request, const Reply& reply, std::string_view what);
  void log_outcome(const SipRequest& sip, const Reply& reply);

  const ServerIdentity& me_;
  RedirectPolicy policy_;
  LocationStore& store_;
  Logger& log_;
  HandlerParts parts_;
};

}  // namespace homesip::redirect
