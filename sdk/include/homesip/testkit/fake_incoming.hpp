// The test kit's request in the chain: a FakeRequest on a ManualLoop, with
// attributes, a fixed To-tag, and a record of what the handler did with it
// (answered, suspended, resumed). The record outlives the FakeIncomingRequest,
// so a SuspendedRequest answered later still lands in it.
//
//   testkit::ManualLoop loop;
//   testkit::FakeIncomingRequest incoming(RequestBuilder().build(), loop);
//   EXPECT_EQ(handler.on_request(incoming), Disposition::kSuspended);
//   loop.run_pending();
//   EXPECT_EQ(incoming.last_reply()->status, 200);
//
// Header-only; part of the installed SDK (target homesip::sdk_testkit).
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "homesip/attributes.hpp"
#include "homesip/handler.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/request_builder.hpp"

namespace homesip::testkit {

// Attributes kept in a map, as the core keeps them.
class FakeAttributes final : public Attributes {
 protected:
  void set_erased(std::string_view name, const char* type, std::shared_ptr<void> value) override {
    values_[std::string(name)] = Entry{type, std::move(value)};
  }
  const void* get_erased(std::string_view name, const char* type) const override {
    const auto it = values_.find(name);
    if (it == values_.end() || it->second.type != type) return nullptr;
    return it->second.value.get();
  }

 private:
  struct Entry {
    std::string type;
    std::shared_ptr<void> value;
  };
  std::map<std::string, Entry, std::less<>> values_;
};

// What happened to one request, shared by the request and its suspension.
struct RequestRecord {
  std::shared_ptr<const FakeRequest> request;
  FakeAttributes attributes;
  std::vector<Reply> replies;         // every reply, in order (more than one is a handler bug)
  std::vector<std::string> forwards;  // every forward()'s Request-URI, in order
  std::vector<std::string> flows;     // the flow of each forward (empty for forward())
  int suspensions = 0;
  int resumptions = 0;
  // A SuspendedRequest destroyed without resume() or reply(): the core answers 500.
  bool dropped = false;
  bool discarded = false;  // discard() was called
};

// What the core checks of a forward() target: a SIP URI (it throws otherwise).
inline std::string checked_forward_target(std::string_view request_uri) {
  const auto uri = parse_uri(request_uri);
  if (!uri || (uri->scheme != "sip" && uri->scheme != "sips"))
    throw std::invalid_argument("forward() to a URI that is not sip: or sips: " + std::string(request_uri));
  return std::string(request_uri);
}

class FakeSuspendedRequest final : public SuspendedRequest {
 public:
  FakeSuspendedRequest(std::shared_ptr<RequestRecord> record, EventLoop& loop)
      : record_(std::move(record)), loop_(loop) {}
  ~FakeSuspendedRequest() override {
    if (finished_) return;
    record_->dropped = true;
    record_->replies.emplace_back(500, "Suspended request dropped");
  }
  const SipRequest& request() const override { return *record_->request; }
  Attributes& attributes() override { return record_->attributes; }
  EventLoop& loop() override { return loop_; }
  void resume() override {
    finish("resume");
    ++record_->resumptions;
  }
  void reply(const Reply& reply) override {
    finish("reply");
    record_->replies.push_back(reply);
  }
  void forward(std::string_view request_uri) override {
    finish("forward");
    record_->forwards.push_back(checked_forward_target(request_uri));
    record_->flows.emplace_back();
  }
  void forward_on_flow(std::string_view request_uri, std::string_view flow) override {
    finish("forward_on_flow");
    record_->forwards.push_back(checked_forward_target(request_uri));
    record_->flows.emplace_back(flow);
  }
  bool finished() const override { return finished_; }

 private:
  void finish(const char* what) {
    if (finished_)
      throw std::logic_error(std::string("SuspendedRequest::") + what + " after it was finished");
    if (!loop_.on_loop_thread())
      throw std::logic_error(std::string("SuspendedRequest::") + what + " off its loop");
    finished_ = true;
  }

  std::shared_ptr<RequestRecord> record_;
  EventLoop& loop_;
  bool finished_ = false;
};

class FakeIncomingRequest final : public IncomingRequest {
 public:
  FakeIncomingRequest(std::unique_ptr<FakeRequest> request, EventLoop& loop,
                      std::string to_tag = "testkit-to-tag")
      : record_(std::make_shared<RequestRecord>()), loop_(loop), to_tag_(std::move(to_tag)) {
    if (!request) throw std::invalid_argument("FakeIncomingRequest without a request");
    record_->request = std::move(request);
  }

  const SipRequest& request() const override { return *record_->request; }
  Attributes& attributes() override { return record_->attributes; }
  EventLoop& loop() override { return loop_; }
  void reply(const Reply& reply) override { record_->replies.push_back(reply); }
  void forward(std::string_view request_uri) override {
    record_->forwards.push_back(checked_forward_target(request_uri));
    record_->flows.emplace_back();
  }
  void forward_on_flow(std::string_view request_uri, std::string_view flow) override {
    record_->forwards.push_back(checked_forward_target(request_uri));
    record_->flows.emplace_back(flow);
  }
  std::unique_ptr<SuspendedRequest> suspend() override {
    ++record_->suspensions;
    return std::make_unique<FakeSuspendedRequest>(record_, loop_);
  }
  std::string_view reply_to_tag() const override { return to_tag_; }
  void discard() override { record_->discarded = true; }

  const std::vector<Reply>& replies() const { return record_->replies; }
  // The last reply, or nullptr when none was given (yet).
  const Reply* last_reply() const { return record_->replies.empty() ? nullptr : &record_->replies.back(); }
  // Every forward()'s Request-URI, and the last one (nullptr when none).
  const std::vector<std::string>& forwards() const { return record_->forwards; }
  const std::string* last_forward() const {
    return record_->forwards.empty() ? nullptr : &record_->forwards.back();
  }
  // The flow of each forward, in the same order: empty for forward(), the
  // flow given to forward_on_flow() (3.3).
  const std::vector<std::string>& forward_flows() const { return record_->flows; }
  bool suspended() const { return record_->suspensions > 0; }
  // True once a suspension of this request called resume().
  bool resumed() const { return record_->resumptions > 0; }
  int resumptions() const { return record_->resumptions; }
  // True when a suspension was destroyed unanswered (recorded as a 500).
  bool dropped() const { return record_->dropped; }
  // True when the handler ended the request with discard(), without an answer.
  bool discarded() const { return record_->discarded; }
  const FakeRequest& fake_request() const { return *record_->request; }

 private:
  std::shared_ptr<RequestRecord> record_;
  EventLoop& loop_;
  std::string to_tag_;
};

}  // namespace homesip::testkit
