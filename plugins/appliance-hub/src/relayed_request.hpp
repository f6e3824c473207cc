// A request another loop received, handed to the main loop, where the hub
// keeps every table. The hub works on it there as on a request of its own
// chain; what it does to the request itself -- the answer, the end of it --
// is posted back to the request's loop, the only thread the core lets touch
// it (handler.hpp). Every reference to the suspension is let go of on that
// loop too, so the core's request never ends on a foreign thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "homesip/handler.hpp"

namespace homesip::appliance_hub {

// The suspension as the main loop holds it: reads go to it directly (its
// loop does not touch a suspended request), everything else goes to its loop.
class RemoteSuspension {
 public:
  explicit RemoteSuspension(std::shared_ptr<SuspendedRequest> suspended);
  ~RemoteSuspension();  // lets go of it on its loop
  RemoteSuspension(const RemoteSuspension&) = delete;
  RemoteSuspension& operator=(const RemoteSuspension&) = delete;

  // Valid until an answer was posted: after that its loop may have sent it.
  const SipRequest& request() const { return suspended_->request(); }
  Attributes& attributes() { return suspended_->attributes(); }
  EventLoop& loop() const { return loop_; }
  void reply(const Reply& reply);
  void resume();
  std::shared_ptr<SuspendedRequest> share() const { return suspended_; }

 private:
  std::shared_ptr<SuspendedRequest> suspended_;
  EventLoop& loop_;
};

// The relayed request while the hub answers it or keeps it waiting: a
// SuspendedRequest for the hub's list of waiting requests. The hub never
// forwards an entity's request: forward() throws std::logic_error.
class RelayedSuspension final : public SuspendedRequest {
 public:
  explicit RelayedSuspension(std::shared_ptr<SuspendedRequest> suspended) : remote_(std::move(suspended)) {}
  const SipRequest& request() const override { return remote_.request(); }
  Attributes& attributes() override { return remote_.attributes(); }
  EventLoop& loop() override { return remote_.loop(); }
  void resume() override;
  void reply(const Reply& reply) override;
  void forward(std::string_view request_uri) override;
  bool finished() const override { return finished_; }

 private:
  void finish(const char* what);
  RemoteSuspension remote_;
  bool finished_ = false;
};

// The relayed request as the hub's on_request sees it on the main loop.
// reply_to_tag is the one the receiving loop's chain gave it.
class RelayedRequest final : public IncomingRequest {
 public:
  RelayedRequest(std::shared_ptr<SuspendedRequest> suspended, std::string reply_to_tag)
      : remote_(std::move(suspended)), reply_to_tag_(std::move(reply_to_tag)) {}
  const SipRequest& request() const override { return remote_.request(); }
  Attributes& attributes() override { return remote_.attributes(); }
  // The loop that received it: where its answer goes.
  EventLoop& loop() override { return remote_.loop(); }
  void reply(const Reply& reply) override;
  void forward(std::string_view request_uri) override;
  std::unique_ptr<SuspendedRequest> suspend() override;
  std::string_view reply_to_tag() const override { return reply_to_tag_; }

 private:
  void finish(const char* what);
  RemoteSuspension remote_;
  const std::string reply_to_tag_;
  bool finished_ = false;
};

}  // namespace homesip::appliance_hub
