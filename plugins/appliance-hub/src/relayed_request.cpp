#include "relayed_request.hpp"

#include <stdexcept>
#include <utility>

namespace homesip::appliance_hub {

RemoteSuspension::RemoteSuspension(std::shared_ptr<SuspendedRequest> suspended)
    : suspended_(std::move(suspended)), loop_(suspended_->loop()) {}

RemoteSuspension::~RemoteSuspension() {
  // The last reference may be this one: it goes on the request's loop, after what was posted before.
  loop_.post([let_go = std::move(suspended_)] {});
}

void RemoteSuspension::reply(const Reply& reply) {
  loop_.post([suspended = suspended_, reply] { suspended->reply(reply); });
}

void RemoteSuspension::resume() {
  loop_.post([suspended = suspended_] { suspended->resume(); });
}

void RelayedSuspension::finish(const char* what) {
  if (finished_) throw std::logic_error(std::string("SuspendedRequest::") + what + " after it was finished");
  finished_ = true;
}

void RelayedSuspension::resume() {
  finish("resume");
  remote_.resume();
}

void RelayedSuspension::reply(const Reply& reply) {
  finish("reply");
  remote_.reply(reply);
}

void RelayedSuspension::forward(std::string_view) {
  throw std::logic_error("a request relayed to the appliance hub is answered, never forwarded");
}

void RelayedRequest::finish(const char* what) {
  if (finished_) throw std::logic_error(std::string(what) + "() on a request already answered or suspended");
  finished_ = true;
}

void RelayedRequest::reply(const Reply& reply) {
  finish("reply");
  remote_.reply(reply);
}

void RelayedRequest::forward(std::string_view) {
  throw std::logic_error("a request relayed to the appliance hub is answered, never forwarded");
}

std::unique_ptr<SuspendedRequest> RelayedRequest::suspend() {
  finish("suspend");
  return std::make_unique<RelayedSuspension>(remote_.share());
}

}  // namespace homesip::appliance_hub
