#include "upstream_registration.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>

namespace homesip::core {
namespace {

std::string random_token() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> bits;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(bits(device)));
  return text;
}

// A Contact setting may carry URI parameters (";transport=tcp"): inside <>
// they stay the URI's, outside they would be read as the header's.
std::string as_name_addr(const std::string& contact) {
  return contact.find('<') == std::string::npos ? "<" + contact + ">" : contact;
}

}  // namespace

UpstreamRegistration::UpstreamRegistration(SipClient& client, SofiaEventLoop& loop, UpstreamSettings settings,
                                           std::shared_ptr<spdlog::logger> log)
    : client_(client), loop_(loop), settings_(std::move(settings)), log_(std::move(log)) {
  const std::string token = random_token();
  from_ = "<sip:" + settings_.aor + ">;tag=" + token.substr(0, 8);
  call_id_ = token + "-up@" + settings_.aor;
}

UpstreamRegistration::~UpstreamRegistration() {
  alive_.reset();
  timer_.reset();
  pending_.reset();  // its callback is never called after this
}

void UpstreamRegistration::start() {
  redirects_ = 0;
  state_ = State::kRegistering;
  log_->info("registering {} with {}", settings_.aor, settings_.entry);
  send_to(settings_.entry, settings_.expires);
}

void UpstreamRegistration::stop() {
  timer_.reset();
  if (state_ == State::kRegistered && !registrar_.empty()) {
    unregistering_ = true;
    send_to(registrar_, 0);  // best effort: the parent also expires us by itself
    if (!pending_) unregistering_ = false;
  }
  state_ = State::kStopped;
}

void UpstreamRegistration::send_to(const std::string& target, uint32_t expires) {
  pending_.reset();  // a newer request replaces the one in flight, whose answer no longer matters
  target_ = target;
  OutgoingRequest request("REGISTER", target);
  request.from = from_;
  request.to = "<sip:" + settings_.aor + ">";
  request.call_id = call_id_;
  request.cseq = ++cseq_;
  request.header("Contact", as_name_addr(settings_.contact)).header("Expires", std::to_string(expires));
  try {
    pending_ = client_.send(request, [this](const SipResponse& response) {
      pending_.reset();  // done: nothing of it is read after this
      handle_final(response);
    });
  } catch (const std::invalid_argument& e) {
    if (unregistering_) return;
    retry_later("cannot send REGISTER to " + target + ": " + e.what());
  }
}

void UpstreamRegistration::handle_final(const SipResponse& response) {
  const int status = response.status();
  if (unregistering_) {
    unregistering_ = false;
    log_->info("unregistered {} from {}: {}", settings_.aor, target_, status);
    return;
  }
  if (state_ == State::kStopped) return;
  if (status == 200)
    on_registered(response);
  else if (status == 302 && !response.contacts().empty())
    on_redirect(response);
  else
    retry_later(std::to_string(status) + " " + std::string(response.reason()) + " from " + target_ +
                (response.local() ? " (no answer)" : ""));
}

void UpstreamRegistration::on_redirect(const SipResponse& response) {
  const std::string next = response.contacts().front().uri;
  if (next.empty()) return retry_later("unusable 302 Contact");
  if (++redirects_ > settings_.max_redirects || next == target_)
    return retry_later("redirect loop or more than " + std::to_string(settings_.max_redirects) +
                       " redirects");
  log_->info("REGISTER {}: 302 from {} -> {}", settings_.aor, target_, next);
  send_to(next, settings_.expires);
}

void UpstreamRegistration::on_registered(const SipResponse& response) {
  // The granted expiry is in our Contact's expires= (or the Expires header).
  // Only a valid delta-seconds counts: "-5" or "x" must not become a huge or
  // a zero interval, and the view gives expires only when it is one.
  uint32_t granted = settings_.expires;
  const auto contacts = response.contacts();
  for (const ContactView& contact : contacts)
    if (contact.expires) granted = std::min(granted, *contact.expires);
  if (contacts.empty())
    if (const auto header = response.expires_header()) granted = *header;
  granted = std::max<uint32_t>(granted, 2);
  const bool first = state_ != State::kRegistered || registrar_ != target_;
  registrar_ = target_;
  state_ = State::kRegistered;
  backoff_ = std::chrono::milliseconds(1000);
  redirects_ = 0;
  if (first) log_->info("registered {} with {} for {}s", settings_.aor, registrar_, granted);
  // Refresh well before expiry so one lost refresh still leaves time to retry.
  const auto refresh = std::chrono::milliseconds(static_cast<int64_t>(granted) * 1000 * 2 / 3);
  schedule(refresh, [this] { send_to(registrar_, settings_.expires); });
}

void UpstreamRegistration::retry_later(const std::string& why) {
  state_ = State::kWaitingToRetry;
  log_->warn("registering {} failed ({}); again from {} in {} ms", settings_.aor, why, settings_.entry,
             backoff_.count());
  const auto delay = backoff_;
  backoff_ = std::min(backoff_ * 2, settings_.max_backoff);
  schedule(delay, [this] { start(); });
}

void UpstreamRegistration::schedule(std::chrono::milliseconds delay, std::function<void()> action) {
  // The action runs from the loop's queue, not inside the timer callback, so
  // it may replace timer_ without destroying the timer that is firing.
  timer_ = loop_.start_timer(delay, false,
                             [this, alive = std::weak_ptr<bool>(alive_), action = std::move(action)] {
                               loop_.post([alive, action] {
                                 if (alive.lock()) action();
                               });
                             });
}

}  // namespace homesip::core
