// Ordinary phones through the tree. A phone set up with its family server as
// registrar and outbound proxy sends every request there with a Route naming
// the server (SipRequest::routed_here()). The tree's domains do not resolve in
// DNS, so the server resolves the Request-URI for the phone (a user of this
// family: the location store; anyone else: TreeResolver) and forwards the
// request statelessly to the callee's best contact, as a DNS resolver answers
// for its clients. A Request-URI that is no tree name (a contact address
// inside a dialog, a foreign domain) is forwarded as it is. A phone of this
// family registered over TCP or TLS is reached on its connection, its flow
// (forward_on_flow); the core then Record-Routes the dialog so that its later
// requests find the flow again. Nothing is kept between requests.
#pragma once

#include "homesip/handler.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/tree.hpp"
#include "tree_resolver.hpp"

namespace homesip::tree {

class PhoneProxy {
 public:
  // All references must outlive this object.
  PhoneProxy(const ServerIdentity& me, LocationStore& store, TreeResolver& resolver, Logger& log);
  // For a request with routed_here() other than REGISTER: answers it (404,
  // 480, 483, 503 ...), forwards it, or suspends it while the callee is
  // resolved. Never kContinue.
  Disposition on_request(IncomingRequest& request);

 private:
  const ServerIdentity& me_;
  LocationStore& store_;
  TreeResolver& resolver_;
  Logger& log_;
};

}  // namespace homesip::tree
