#include "upward_registration.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "homesip/digest/digest.hpp"
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

// "H1" and "C1.D1" of "H1@C1.D1": the digest username and realm.
std::string_view user_of(std::string_view aor) { return aor.substr(0, aor.find('@')); }
std::string_view domain_of(std::string_view aor) {
  const size_t at = aor.find('@');
  return at == std::string_view::npos ? std::string_view() : aor.substr(at + 1);
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
  sent_expires_ = expires;
  sent_answer_ = false;
  OutgoingRequest request("REGISTER", target);
  request.from = from_;
  request.to = "<sip:" + settings_.aor + ">";
  request.call_id = call_id_;
  request.cseq = ++cseq_;
  request.header("Contact", as_name_addr(settings_.contact))
      .header("Expires", std::to_string(expires))
      .header("User-Agent", settings_.user_agent);
  // Credentials for the nonce this target gave us (the digest uri is the
  // Request-URI, as sent); to any other target none.
  if (challenge_ && challenge_->target == target && !settings_.password.empty()) {
    digest::DigestParams params;
    params.realm = challenge_->realm;
    params.nonce = challenge_->nonce;
    params.opaque = challenge_->opaque;
    params.algorithm = challenge_->algorithm;
    params.qop = challenge_->qop;
    if (const auto value = digest::authorization(params, user_of(settings_.aor), settings_.password,
                                                 "REGISTER", target, random_token(), ++challenge_->nc))
      request.header(challenge_->proxy ? "Proxy-Authorization" : "Authorization", *value);
  }
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
  const bool challenged = (status == 401 || status == 407) && !response.local();
  if (!challenged) challenges_in_a_row_ = 0;
  if (status != 503) busy_in_a_row_ = 0;
  if (unregistering_) {
    // The goodbye is challenged too: answered once, best effort.
    std::string why;
    if (challenged && !sent_answer_ && !settings_.password.empty() && answer_challenge(response, &why))
      return;
    unregistering_ = false;
    log_.info("unregistered ", settings_.aor, " from ", target_, ": ", status);
    return;
  }
  if (state_ == State::kStopped) return;
  if (status == 200) return on_registered(response);
  if (status == 302 && !response.contacts().empty()) return on_redirect(response);
  if (challenged) return on_challenge(response);
  std::optional<uint32_t> retry_after;
  if (status == 503 && !response.local())
    if (const auto value = response.header("Retry-After")) retry_after = retry_after_seconds(*value);
  const std::string why = std::to_string(status) + " " + std::string(response.reason()) + " from " + target_ +
                          (response.local() ? " (no answer)" : "");
  if (retry_after && busy_in_a_row_ < kMaxBusyRetries)
    return retry_here_after(why, std::chrono::seconds(*retry_after));
  busy_in_a_row_ = 0;
  retry_later(why, std::chrono::seconds(retry_after.value_or(0)));
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

void UpwardRegistration::on_challenge(const SipResponse& response) {
  const std::string from = std::to_string(response.status()) + " from " + target_;
  if (settings_.password.empty())
    return retry_later(from + ": the parent asks for a password (the tree's password_file)");
  if (++challenges_in_a_row_ > 3) return retry_later(from + ": challenged again and again");
  std::string why;
  if (!answer_challenge(response, &why)) return retry_later(from + ": " + why);
}

// Picks the first challenge of `response` this server can answer (a Digest
// for its own domain as realm, an algorithm and qop it does) and sends the
// REGISTER again with credentials. A challenge right after the answer to the
// one before, not stale=true, means the credentials were refused.
bool UpwardRegistration::answer_challenge(const SipResponse& response, std::string* why) {
  const bool proxy = response.status() == 407;
  const std::string_view realm = domain_of(settings_.aor);
  std::optional<digest::DigestParams> chosen;
  *why = "no Digest challenge for realm \"" + std::string(realm) + "\" with MD5 or SHA-256 and qop=auth";
  for (const std::string_view value : response.headers(proxy ? "Proxy-Authenticate" : "WWW-Authenticate")) {
    auto params = digest::parse(value);
    if (!params) continue;
    if (params->realm != realm) {
      *why = "challenged for realm \"" + params->realm + "\", not this server's domain \"" +
             std::string(realm) + "\"";
      continue;
    }
    if (!digest::authorization(*params, user_of(settings_.aor), settings_.password, "REGISTER", target_, "0",
                               1))
      continue;
    chosen = std::move(params);
    break;
  }
  if (!chosen) return false;
  if (sent_answer_ && !chosen->stale) {
    *why = "credentials of " + std::string(user_of(settings_.aor)) + " refused (wrong password, or no user " +
           settings_.aor + " at the parent)";
    return false;
  }
  const bool new_nonce = !challenge_ || challenge_->nonce != chosen->nonce || challenge_->target != target_;
  challenge_ = Challenge{target_,        proxy,
                         chosen->realm,  chosen->nonce,
                         chosen->opaque, chosen->algorithm,
                         chosen->qop,    new_nonce ? 0u : challenge_->nc};
  log_.debug("REGISTER ", settings_.aor, ": ", response.status(), " from ", target_,
             chosen->stale ? " (stale)" : "", ", answering for realm ", chosen->realm);
  send_to(target_, sent_expires_);
  sent_answer_ = true;
  return true;
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
  if (failures_in_a_row_ > 0)
    log_.warn("registering ", settings_.aor, " works again after ", failures_in_a_row_, " failed attempts");
  failures_in_a_row_ = 0;
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
  challenge_.reset();  // the next attempt starts without credentials
  challenges_in_a_row_ = 0;
  retry_delay_ = std::max(jittered(backoff_), at_least);
  // One warn line per outage: while the parent stays away, retries go to debug.
  const LogLevel level = failures_in_a_row_++ == 0 ? LogLevel::kWarn : LogLevel::kDebug;
  log_.log(level, "registering ", settings_.aor, " failed (", why, "); again from the top ", settings_.top,
           " in ", retry_delay_.count(), " ms",
           level == LogLevel::kWarn ? "; further failures at debug" : "");
  backoff_ = std::min(backoff_ * 2, settings_.max_backoff);
  schedule(retry_delay_, [this] { register_from_top(); });
}

void UpwardRegistration::retry_here_after(const std::string& why, std::chrono::milliseconds retry_after) {
  ++busy_in_a_row_;
  state_ = State::kWaitingToRetry;
  retry_delay_ = std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(retry_after.count()) * (1.0 + settings_.jitter * random_())));
  const LogLevel level = failures_in_a_row_++ == 0 ? LogLevel::kWarn : LogLevel::kDebug;
  log_.log(level, "registering ", settings_.aor, " refused for now (", why, "); the same REGISTER to ",
           target_, " in ", retry_delay_.count(), " ms as its Retry-After asks (", busy_in_a_row_, " of ",
           kMaxBusyRetries, ")", level == LogLevel::kWarn ? "; further failures at debug" : "");
  // The same target and Expires; the credentials for it stay (a parent that
  // challenged us, then was busy, takes the same nonce or sends a new one).
  schedule(retry_delay_, [this, target = target_, expires = sent_expires_] {
    retry_delay_ = {};
    state_ = State::kRegistering;
    send_to(target, expires);
  });
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
