#include "upward_registration.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "homesip/request.hpp"

namespace homesip::tree {
namespace {

std::string random_token() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> bits;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(bits(device)));
  return text;
}

// A contact may carry URI parameters (";transport=tcp"): inside <> they stay
// the URI's, outside they would be read as the header's.
std::string as_name_addr(const std::string& contact) {
  return contact.find('<') == std::string::npos ? "<" + contact + ">" : contact;
}

UpwardRegistration::Random default_random() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace

std::optional<uint32_t> retry_after_seconds(std::string_view value) {
  const size_t end = value.find_first_of(" ;(\t");
  return parse_delta_seconds(value.substr(0, end));
}

UpwardRegistration::UpwardRegistration(SipClient& client, EventLoop& loop, UpwardSettings settings,
                                       Logger& log, Random random)
    : client_(client),
      loop_(loop),
      settings_(std::move(settings)),
      log_(log),
      random_(random ? std::move(random) : default_random()),
      backoff_(settings_.first_backoff) {
  const std::string token = random_token();
  from_ = "<sip:" + settings_.aor + ">;tag=" + token.substr(0, 8);
  call_id_ = token + "-up@" + settings_.aor;
}

UpwardRegistration::~UpwardRegistration() {
  alive_.reset();
  timer_.reset();
  pending_.reset();  // its callback is never called after this
}

const char* UpwardRegistration::state_name(State state) {
  switch (state) {
    case State::kIdle:
      return "idle";
    case State::kRegistering:
      return "registering";
    case State::kRegistered:
      return "registered";
    case State::kWaitingToRetry:
      return "waiting to retry";
    case State::kStopped:
      return "stopped";
  }
  return "?";
}

void UpwardRegistration::start() {
  log_.info("registering ", settings_.aor, " with the top ", settings_.top);
  register_from_top();
}

void UpwardRegistration::register_from_top() {
  redirects_ = 0;
  retry_delay_ = {};
  state_ = State::kRegistering;
  send_to(settings_.top, settings_.expires);
}

void UpwardRegistration::stop() {
  timer_.reset();
  if (state_ == State::kRegistered && !registrar_.empty()) {
    unregistering_ = true;
    send_to(registrar_, 0);  // best effort: the parent also expires us by itself
    if (!pending_) unregistering_ = false;
  } else {
    pending_.reset();  // a registration in flight: its answer no longer matters
  }
  state_ = State::kStopped;
}

void UpwardRegistration::send_to(const std::string& target, uint32_t expires) {
  pending_.reset();  // a newer request replaces the one in flight
  target_ = target;
  OutgoingRequest request("REGISTER", target);
  request.from = from_;
  request.to = "<sip:" + settings_.aor + ">";
  request.call_id = call_id_;
  request.cseq = ++cseq_;
  request.header("Contact", as_name_addr(settings_.contact))
      .header("Expires", std::to_string(expires))
      .header("User-Agent", settings_.user_agent);
  try {
    pending_ = client_.send(request, [this](const SipResponse& response) {
      pending_.reset();  // done: nothing of it is read after this
      handle_final(response);
    });
  } catch (const std::exception& e) {
    if (unregistering_) return;
    retry_later("cannot send REGISTER to " + target + ": " + e.what());
  }
}

void UpwardRegistration::handle_final(const SipResponse& response) {
  const int status = response.status();
  if (unregistering_) {
    unregistering_ = false;
    log_.info("unregistered ", settings_.aor, " from ", target_, ": ", status);
    return;
  }
  if (state_ == State::kStopped) return;
  if (status == 200) return on_registered(response);
  if (status == 302 && !response.contacts().empty()) return on_redirect(response);
  std::chrono::milliseconds at_least{0};
  if (status == 503 && !response.local())
    if (const auto value = response.header("Retry-After"))
      if (const auto seconds = retry_after_seconds(*value)) at_least = std::chrono::seconds(*seconds);
  retry_later(std::to_string(status) + " " + std::string(response.reason()) + " from " + target_ +
                  (response.local() ? " (no answer)" : ""),
              at_least);
}

void UpwardRegistration::on_redirect(const SipResponse& response) {
  const std::string next = response.contacts().front().uri;
  if (next.empty()) return retry_later("unusable 302 Contact from " + target_);
  if (++redirects_ > settings_.max_redirects || next == target_)
    return retry_later("redirect loop or more than " + std::to_string(settings_.max_redirects) +
                       " redirects");
  log_.info("REGISTER ", settings_.aor, ": 302 from ", target_, " -> ", next);
  send_to(next, settings_.expires);
}

void UpwardRegistration::on_registered(const SipResponse& response) {
  // The granted expiry is in our Contact's expires= (or the Expires header);
  // the views give only valid delta-seconds, so "-5" cannot become huge or 0.
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
  backoff_ = settings_.first_backoff;
  retry_delay_ = {};
  redirects_ = 0;
  if (first) log_.info("registered ", settings_.aor, " with ", registrar_, " for ", granted, "s");
  // Refresh well before expiry so one lost refresh still leaves time to retry.
  const auto refresh = std::chrono::milliseconds(static_cast<int64_t>(granted) * 1000 * 2 / 3);
  schedule(refresh, [this] { send_to(registrar_, settings_.expires); });
}

std::chrono::milliseconds UpwardRegistration::jittered(std::chrono::milliseconds backoff) {
  const double factor = 1.0 + settings_.jitter * (2.0 * random_() - 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(backoff.count()) * factor));
}

void UpwardRegistration::retry_later(const std::string& why, std::chrono::milliseconds at_least) {
  state_ = State::kWaitingToRetry;
  retry_delay_ = std::max(jittered(backoff_), at_least);
  log_.warn("registering ", settings_.aor, " failed (", why, "); again from the top ", settings_.top, " in ",
            retry_delay_.count(), " ms");
  backoff_ = std::min(backoff_ * 2, settings_.max_backoff);
  schedule(retry_delay_, [this] { register_from_top(); });
}

void UpwardRegistration::schedule(std::chrono::milliseconds delay, std::function<void()> action) {
  // The action runs from the loop's queue, not inside the timer callback, so
  // it may replace timer_ without destroying the timer that is firing.
  timer_ = loop_.start_timer(delay, false,
                             [this, alive = std::weak_ptr<bool>(alive_), action = std::move(action)] {
                               loop_.post([alive, action] {
                                 if (alive.lock()) action();
                               });
                             });
}

}  // namespace homesip::tree
