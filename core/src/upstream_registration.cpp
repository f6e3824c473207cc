#include "upstream_registration.hpp"

#include <sofia-sip/nta.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include <algorithm>
#include <charconv>
#include <string_view>

namespace homesip::core {

UpstreamRegistration::UpstreamRegistration(nta_agent_s* agent, SofiaEventLoop& loop,
                                           UpstreamSettings settings, std::shared_ptr<spdlog::logger> log)
    : agent_(agent), loop_(loop), settings_(std::move(settings)), log_(std::move(log)) {
  const std::string uri = "sip:" + settings_.aor;
  // One leg for the registration's lifetime: it keeps the Call-ID and counts
  // CSeq up, so the parent's registrar sees refreshes, not new bindings.
  leg_ = nta_leg_tcreate(agent_, nullptr, nullptr, SIPTAG_FROM_STR(uri.c_str()), SIPTAG_TO_STR(uri.c_str()),
                         NTATAG_NO_DIALOG(1), TAG_END());
  if (!leg_) throw std::runtime_error("cannot create the upstream registration leg");
}

UpstreamRegistration::~UpstreamRegistration() {
  alive_.reset();
  timer_.reset();
  if (pending_) nta_outgoing_destroy(pending_);
  if (leg_) nta_leg_destroy(leg_);
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
  }
  state_ = State::kStopped;
}

void UpstreamRegistration::send_to(const std::string& target, uint32_t expires) {
  if (pending_) nta_outgoing_destroy(pending_);
  target_ = target;
  const std::string expires_text = std::to_string(expires);
  pending_ =
      nta_outgoing_tcreate(leg_, reinterpret_cast<nta_response_f*>(&UpstreamRegistration::on_response),
                           reinterpret_cast<nta_outgoing_magic_t*>(this), nullptr, SIP_METHOD_REGISTER,
                           URL_STRING_MAKE(target.c_str()), SIPTAG_CONTACT_STR(settings_.contact.c_str()),
                           SIPTAG_EXPIRES_STR(expires_text.c_str()), TAG_END());
  if (!pending_) retry_later("cannot send REGISTER to " + target);
}

int UpstreamRegistration::on_response(void* self, nta_outgoing_s* request, const sip_s* sip) {
  auto* me = static_cast<UpstreamRegistration*>(self);
  const int status = nta_outgoing_status(request);
  if (status < 200) return 0;
  if (me->pending_ == request) me->pending_ = nullptr;
  nta_outgoing_destroy(request);
  me->handle_final(status, sip);
  return 0;
}

void UpstreamRegistration::handle_final(int status, const sip_s* sip) {
  if (unregistering_) {
    unregistering_ = false;
    log_->info("unregistered {} from {}: {}", settings_.aor, target_, status);
    return;
  }
  if (state_ == State::kStopped) return;
  if (status == 200)
    on_registered(sip);
  else if (status == 302 && sip && sip->sip_contact)
    on_redirect(sip);
  else
    retry_later(std::to_string(status) + " " +
                (sip && sip->sip_status && sip->sip_status->st_phrase ? sip->sip_status->st_phrase : "") +
                " from " + target_);
}

void UpstreamRegistration::on_redirect(const sip_s* sip) {
  char buffer[512];
  if (url_e(buffer, sizeof buffer, sip->sip_contact->m_url) < 0) return retry_later("unusable 302 Contact");
  buffer[sizeof buffer - 1] = '\0';
  const std::string next = buffer;
  if (++redirects_ > settings_.max_redirects || next == target_)
    return retry_later("redirect loop or more than " + std::to_string(settings_.max_redirects) +
                       " redirects");
  log_->info("REGISTER {}: 302 from {} -> {}", settings_.aor, target_, next);
  send_to(next, settings_.expires);
}

void UpstreamRegistration::on_registered(const sip_s* sip) {
  // The granted expiry is in our Contact's expires= (or the Expires header).
  uint32_t granted = settings_.expires;
  for (const sip_contact_t* m = sip ? sip->sip_contact : nullptr; m; m = m->m_next) {
    if (!m->m_expires) continue;
    // Only a valid delta-seconds counts: "-5" or "x" must not become a huge or a zero interval.
    const std::string_view text(m->m_expires);
    uint32_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) granted = std::min(granted, value);
  }
  if (sip && sip->sip_expires && !sip->sip_contact)
    granted = static_cast<uint32_t>(sip->sip_expires->ex_delta);
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
