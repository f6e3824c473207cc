#include "request_chain.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "homesip/uri.hpp"

namespace homesip::core {
namespace {

// What IncomingRequest::forward() promises to refuse: anything but a sip: or sips: URI.
void check_forward_target(std::string_view request_uri) {
  const auto uri = parse_uri(request_uri);
  if (!uri || (uri->scheme != "sip" && uri->scheme != "sips"))
    throw std::invalid_argument("forward() to a URI that is not sip: or sips: " + std::string(request_uri));
}

}  // namespace

void AttributeSet::set_erased(std::string_view name, const char* type, std::shared_ptr<void> value) {
  for (Entry& entry : entries_)
    if (entry.name == name) {
      entry.type = type;
      entry.value = std::move(value);
      return;
    }
  entries_.push_back(Entry{std::string(name), type, std::move(value)});
}

const void* AttributeSet::get_erased(std::string_view name, const char* type) const {
  for (const Entry& entry : entries_)
    if (entry.name == name) return entry.type == type ? entry.value.get() : nullptr;
  return nullptr;
}

// A request taken out of the chain. It owns the request (and so the message
// its views point into) until it is answered, resumed or destroyed.
class Suspension final : public SuspendedRequest {
 public:
  Suspension(RequestChain& chain, std::unique_ptr<ChainRequest> request, AttributeSet attributes,
             EventLoop& loop, size_t next)
      : chain_(chain),
        request_(std::move(request)),
        attributes_(std::move(attributes)),
        loop_(loop),
        next_(next) {
    chain_.remember(this);
  }
  ~Suspension() override {
    if (!finished_ && request_->request().method() == Method::kAck) {
      finish();  // an ACK let go of is dropped, as one no handler forwards
    } else if (!finished_) {
      chain_.log_->error("a suspended {} (Call-ID {}) was dropped unanswered: a plugin bug, answered 500",
                         request_->request().method_name(), request_->request().call_id());
      answer(Reply(500, "Request Dropped"));
    }
  }
  const SipRequest& request() const override { return request_->request(); }
  Attributes& attributes() override { return attributes_; }
  EventLoop& loop() override { return loop_; }
  void resume() override;
  void reply(const Reply& reply) override {
    check_thread("reply");
    if (!finished_) answer(reply);
  }
  void forward(std::string_view request_uri) override { forward_on_flow(request_uri, {}); }
  void forward_on_flow(std::string_view request_uri, std::string_view flow) override {
    check_thread("forward");
    if (finished_) return;
    check_forward_target(request_uri);
    request_->forward(request_uri, flow);  // throws (Max-Forwards 0) before taking anything
    finish();
    request_.reset();
  }
  bool finished() const override { return finished_; }
  // Answers from the chain itself (shutdown), on whatever thread stops it.
  void answer_now(const Reply& reply) {
    if (!finished_) answer(reply);
  }

  AttributeSet& attribute_set() { return attributes_; }
  Suspension* previous = nullptr;
  Suspension* next = nullptr;

 private:
  void check_thread(const char* what) const {
    if (!loop_.on_loop_thread())
      throw std::logic_error(std::string("SuspendedRequest::") + what + " called off its loop's thread");
  }
  void finish() {
    finished_ = true;
    chain_.forget(this);
  }
  void answer(const Reply& reply) {
    finish();
    if (attributes_.get(kAuthenticatedIdentity)) request_->mark_sender_authenticated();
    if (request_->request().method() != Method::kAck) request_->answer(reply);  // an ACK is never answered
    request_.reset();  // the message goes now, not when the plugin lets go of this
  }

  RequestChain& chain_;
  std::unique_ptr<ChainRequest> request_;
  AttributeSet attributes_;
  EventLoop& loop_;
  size_t next_;
  bool finished_ = false;
};

// The request in hand while handlers run, from the chain's start or from a
// resumption: on the stack, owning the request only after a resumption.
class ChainWalk final : public IncomingRequest {
 public:
  enum class State { kRunning, kAnswered, kSuspended };

  ChainWalk(RequestChain& chain, EventLoop& loop, ChainRequest& request)
      : chain_(chain), loop_(loop), request_(&request), attributes_(&own_attributes_) {}
  ChainWalk(RequestChain& chain, EventLoop& loop, std::unique_ptr<ChainRequest> request,
            AttributeSet attributes)
      : chain_(chain),
        loop_(loop),
        request_(request.get()),
        owned_(std::move(request)),
        own_attributes_(std::move(attributes)),
        attributes_(&own_attributes_) {}

  const SipRequest& request() const override { return request_->request(); }
  Attributes& attributes() override { return *attributes_; }
  EventLoop& loop() override { return loop_; }
  void reply(const Reply& reply) override {
    if (state_ != State::kRunning) {
      chain_.log_->error("handler '{}' answered a request it no longer holds: ignored", handler_name());
      return;
    }
    answer(reply);
  }
  void forward(std::string_view request_uri) override { forward_on_flow(request_uri, {}); }
  void forward_on_flow(std::string_view request_uri, std::string_view flow) override {
    if (state_ != State::kRunning)
      throw std::logic_error("forward() on a request already answered, forwarded or suspended");
    check_forward_target(request_uri);
    request_->forward(request_uri, flow);  // throws (Max-Forwards 0) before taking anything
    state_ = State::kAnswered;
  }
  std::unique_ptr<SuspendedRequest> suspend() override {
    if (state_ != State::kRunning)
      throw std::logic_error("suspend() on a request already answered or suspended");
    std::unique_ptr<ChainRequest> taken = owned_ ? std::move(owned_) : request_->detach();
    auto suspension = std::make_unique<Suspension>(chain_, std::move(taken), std::move(own_attributes_),
                                                   loop_, handler_ + 1);
    attributes_ = &suspension->attribute_set();  // what a handler still reads goes to the kept set
    state_ = State::kSuspended;
    return suspension;
  }
  std::string_view reply_to_tag() const override { return request_->reply_to_tag(); }
  void discard() override {
    if (state_ != State::kRunning)
      throw std::logic_error("discard() on a request already answered, forwarded or suspended");
    state_ = State::kAnswered;  // the message goes with its owner, unanswered
  }

  void answer(const Reply& reply) {
    state_ = State::kAnswered;
    if (attributes_->get(kAuthenticatedIdentity)) request_->mark_sender_authenticated();
    // An ACK is never answered: the message simply goes with its owner.
    if (request_->request().method() != Method::kAck) request_->answer(reply);
  }
  void set_handler(size_t index) { handler_ = index; }
  State state() const { return state_; }
  std::string_view handler_name() const { return chain_.entries_[handler_].name; }

 private:
  RequestChain& chain_;
  EventLoop& loop_;
  ChainRequest* request_;
  std::unique_ptr<ChainRequest> owned_;
  AttributeSet own_attributes_;
  AttributeSet* attributes_;
  size_t handler_ = 0;
  State state_ = State::kRunning;
};

void Suspension::resume() {
  check_thread("resume");
  if (finished_) return;
  finish();
  ChainWalk walk(chain_, loop_, std::move(request_), std::move(attributes_));
  chain_.walk(walk, next_);
}

RequestChain::RequestChain(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

RequestChain::~RequestChain() {
  // A suspension outliving the chain must not reach back into it: answered
  // now, it is finished and its destructor does nothing.
  answer_suspended(5, nullptr);
}

void RequestChain::add(RequestHandler& handler, HandlerPlacement placement, size_t plugin_index,
                       std::string plugin) {
  ChainEntry entry{&handler,        placement.phase,
                   placement.order, plugin_index,
                   plugin,          placement.name.empty() ? plugin : std::string(placement.name)};
  // After every entry that sorts before or equal: equal ones keep the order they came in.
  const auto at = std::upper_bound(entries_.begin(), entries_.end(), entry, [](const auto& a, const auto& b) {
    if (a.phase != b.phase) return a.phase < b.phase;
    if (a.order != b.order) return a.order < b.order;
    return a.plugin_index < b.plugin_index;
  });
  entries_.insert(at, std::move(entry));
}

void RequestChain::run(ChainRequest& request, EventLoop& loop) {
  ChainWalk chain_walk(*this, loop, request);
  walk(chain_walk, 0);
}

void RequestChain::walk(ChainWalk& w, size_t from) {
  for (size_t i = from; i < entries_.size(); ++i) {
    w.set_handler(i);
    const ChainEntry& entry = entries_[i];
    Disposition disposition;
    try {
      disposition = entry.handler->on_request(w);
    } catch (const std::exception& e) {
      // Once suspended, the request may be answered and gone: name the handler only.
      if (w.state() == ChainWalk::State::kRunning) {
        log_->error("handler '{}' failed on {} (Call-ID {}): {}", entry.name, w.request().method_name(),
                    w.request().call_id(), e.what());
        w.answer(Reply(500, "Server Internal Error"));
      } else {
        log_->error("handler '{}' failed after answering or suspending: {}", entry.name, e.what());
      }
      return;
    } catch (...) {
      log_->error("handler '{}' threw something that is no std::exception", entry.name);
      if (w.state() == ChainWalk::State::kRunning) w.answer(Reply(500, "Server Internal Error"));
      return;
    }
    switch (disposition) {
      case Disposition::kContinue:
        if (w.state() == ChainWalk::State::kRunning) continue;
        log_->error("handler '{}' answered or suspended a request, then passed it on: a plugin bug",
                    entry.name);
        return;
      case Disposition::kHandled:
        // An ACK "handled" without a forward is dropped: there is nothing to answer.
        if (w.state() == ChainWalk::State::kRunning && w.request().method() != Method::kAck) {
          log_->error(
              "handler '{}' said it handled {} (Call-ID {}) without answering: a plugin bug, answered 500",
              entry.name, w.request().method_name(), w.request().call_id());
          w.answer(Reply(500, "Server Internal Error"));
        }
        return;
      case Disposition::kSuspended:
        if (w.state() == ChainWalk::State::kRunning) {
          log_->error(
              "handler '{}' returned kSuspended without suspend() on {} (Call-ID {}): a plugin bug, "
              "answered 500",
              entry.name, w.request().method_name(), w.request().call_id());
          w.answer(Reply(500, "Server Internal Error"));
        }
        return;
    }
  }
  if (w.state() == ChainWalk::State::kRunning && w.request().method() != Method::kAck)
    w.answer(default_reply(w.request().method()));
}

Reply RequestChain::default_reply(Method method) {
  switch (method) {
    case Method::kOptions: {
      Reply ok(200);
      ok.header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY");
      ok.header("Accept", "application/sdp, text/plain");
      return ok;
    }
    case Method::kCancel:  // a stateless server has no transaction to cancel
    case Method::kBye:     // nor a dialog to end
      return Reply(481, "Call/Transaction Does Not Exist");
    default:
      return Reply(501, "Not Implemented");
  }
}

void RequestChain::answer_suspended(uint32_t retry_after_seconds, const EventLoop* loop) {
  Reply unavailable(503, "Service Unavailable");
  unavailable.header("Retry-After", std::to_string(retry_after_seconds));
  // Answering takes each out of the list; the lock is not held meanwhile.
  for (;;) {
    Suspension* next = nullptr;
    {
      std::lock_guard lock(suspended_mutex_);
      for (Suspension* s = first_suspended_; s && !next; s = s->next)
        if (!loop || &s->loop() == loop) next = s;
    }
    if (!next) return;
    next->answer_now(unavailable);
  }
}

void RequestChain::remember(Suspension* suspension) {
  std::lock_guard lock(suspended_mutex_);
  suspension->next = first_suspended_;
  if (first_suspended_) first_suspended_->previous = suspension;
  first_suspended_ = suspension;
  ++suspended_count_;
}

void RequestChain::forget(Suspension* suspension) {
  std::lock_guard lock(suspended_mutex_);
  const bool listed = suspension->previous || first_suspended_ == suspension;
  if (!listed) return;
  if (suspension->previous)
    suspension->previous->next = suspension->next;
  else
    first_suspended_ = suspension->next;
  if (suspension->next) suspension->next->previous = suspension->previous;
  suspension->previous = suspension->next = nullptr;
  --suspended_count_;
}

}  // namespace homesip::core
