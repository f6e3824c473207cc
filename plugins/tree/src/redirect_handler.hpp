// The request handler (phase kRouting, before the registrar): feeds each
// request to decide() and, when the answer depends on bindings, suspends it
// until the location store's lookup returns.
// Stateless: nothing is kept between requests and nothing is written.
#pragma once

#include "homesip/context.hpp"
#include "homesip/handler.hpp"
#include "redirect_rules.hpp"

namespace homesip::redirect {

class RedirectHandler final : public RequestHandler {
 public:
  RedirectHandler(const ServerIdentity& me, RedirectPolicy policy, LocationStore& store, Logger& log);
  Disposition on_request(IncomingRequest& request) override;

 private:
  ServerIdentity me_;
  RedirectPolicy policy_;
  LocationStore& store_;
  Logger& log_;
};

}  // namespace homesip::redirect
