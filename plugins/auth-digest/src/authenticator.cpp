#include "authenticator.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>

#include "homesip/attributes.hpp"
#include "homesip/uri.hpp"

namespace homesip::auth_digest {
namespace {

using digest::Algorithm;
using digest::DigestParams;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

uint16_t port_or_default(const UriView& uri) {
  if (!uri.port.empty()) return uri.port_number();
  return iequals(uri.scheme, "sips") ? 5061 : 5060;
}

// The credentials' uri names the Request-URI (RFC 7616 3.4.6): compared as
// parsed SIP URIs, so "sip:host" and "sip:host:5060" agree.
bool same_uri(std::string_view given, const UriView& request_uri) {
  const std::optional<UriView> uri = parse_uri(given);
  if (!uri) return false;
  return iequals(uri->scheme, request_uri.scheme) && uri->user == request_uri.user &&
         iequals(uri->host, request_uri.host) && port_or_default(*uri) == port_or_default(request_uri) &&
         iequals(uri->params, request_uri.params);
}

// nc: exactly 8 hex digits (RFC 7616 3.4), not zero.
std::optional<uint32_t> parse_nc(std::string_view text) {
  if (text.size() != 8) return std::nullopt;
  uint32_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (lower(c) >= 'a' && lower(c) <= 'f')
      digit = lower(c) - 'a' + 10;
    else
      return std::nullopt;
    value = (value << 4) | static_cast<uint32_t>(digit);
  }
  if (value == 0) return std::nullopt;
  return value;
}

uint64_t random_start() {
  uint64_t value = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value) != 1)
    throw std::runtime_error("no random bytes from OpenSSL for the nonce salt");
  return value;
}

}  // namespace

NonceCounts::Use NonceCounts::use(std::string_view nonce, int64_t issued_at, uint32_t nc, int64_t now) {
  // Past its lifetime now, though it was not when the nonce was checked (a
  // store lookup between may cross the second): its entry may be gone, so a
  // replay would look new. Stale, like any expired nonce.
  if (now - issued_at > lifetime_s_) return Use::kForgotten;
  const uint64_t key = std::hash<std::string_view>{}(nonce);
  const std::lock_guard lock(mutex_);
  // Nonces past their lifetime are stale anyway: drop them from the front.
  while (!order_.empty() && now - order_.front().issued_at > lifetime_s_) {
    entries_.erase(order_.front().key);
    order_.pop_front();
  }
  if (const auto it = entries_.find(key); it != entries_.end()) {
    if (nc <= it->second.last_nc) return Use::kReplayed;
    it->second.last_nc = nc;
    return Use::kAccepted;
  }
  if (forgot_ && issued_at <= forgotten_up_to_) return Use::kForgotten;
  while (entries_.size() >= capacity_ && !order_.empty()) forget_front();
  entries_.emplace(key, Entry{issued_at, nc});
  order_.push_back(Tracked{key, issued_at});
  return Use::kAccepted;
}

void NonceCounts::forget_front() {
  const Tracked& oldest = order_.front();
  forgotten_up_to_ = forgot_ ? std::max(forgotten_up_to_, oldest.issued_at) : oldest.issued_at;
  forgot_ = true;
  entries_.erase(oldest.key);
  order_.pop_front();
}

size_t NonceCounts::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

Authenticator::Authenticator(UserStore& users, Logger& log, AuthSettings settings, std::string secret,
                             AuthMetrics metrics)
    : users_(users),
      log_(log),
      settings_(std::move(settings)),
      nonces_(secret),
      metrics_(metrics),
      counts_(settings_.replay_window_entries, settings_.nonce_lifetime_s),
      bans_(settings_.bans),
      salt_(random_start()),
      // From the secret: servers sharing it (a standby) read each other's tags.
      source_key_(std::hash<std::string_view>{}(secret) ^ 0x5eed5eed5eed5eedULL),
      store_outage_(log, "user store (auth-digest)") {}

int Authenticator::challenge_status(Kind kind) { return kind == Kind::kWww ? 401 : 407; }

uint32_t Authenticator::source_tag(std::string_view ip) const {
  // splitmix64's finisher over the keyed hash: an attacker never sees the
  // tag of an address it cannot receive at, nor can it make a nonce.
  uint64_t z = source_key_ ^ std::hash<std::string_view>{}(ip);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

Reply Authenticator::challenge(Kind kind, bool stale, int64_t now, const SipRequest& request) const {
  Reply reply(challenge_status(kind));
  // A nonce per challenge: two clients challenged in one second never share
  // one (nor its counts): the salt's high half counts challenges, its low
  // half names the address the challenge goes to.
  const uint64_t count = salt_.fetch_add(1, std::memory_order_relaxed);
  const std::string nonce =
      nonces_.make(settings_.realm, now, (count << 32) | source_tag(request.source().ip));
  const char* header = kind == Kind::kWww ? "WWW-Authenticate" : "Proxy-Authenticate";
  for (const Algorithm algorithm : settings_.algorithms)
    reply.header(header, digest::challenge(algorithm, settings_.realm, nonce, stale));
  metrics_.challenges.add();
  return reply;
}

void Authenticator::refuse(const SipRequest& request, std::string_view aor, int status,
                           std::string_view why) const {
  metrics_.failed.add();
  log_.info(refusal_text(request.method_name(), aor, request.source().text(), status, why));
}

// A banned source learns nothing, not even that it is banned: its request
// ends without an answer (IncomingRequest::discard()), no nonce is made and
// no store is asked.
namespace {
Disposition drop_banned(IncomingRequest& incoming, Counter& discarded) {
  discarded.add();
  incoming.discard();
  return Disposition::kHandled;
}
}  // namespace

// What to challenge: a REGISTER for the realm (401); with proxy_auth what a
// phone sends through this server (407); and any other request whose From
// claims to be one of the realm's users (401), for which the claim is
// proven or refused. Not challenged: ACK and CANCEL (they cannot answer),
// and an OPTIONS for another domain, which the tree redirects the same for
// anyone (child servers' lookups carry their own AOR in From).
std::optional<Authenticator::Kind> Authenticator::kind_of(const SipRequest& request) const {
  if (request.method() == Method::kAck || request.method() == Method::kCancel) return std::nullopt;
  if (request.method() == Method::kRegister && iequals(request.to_uri().host, settings_.realm))
    return Kind::kWww;
  if (settings_.proxy_auth && uses_as_proxy(request)) return Kind::kProxy;
  const bool from_the_realm = iequals(request.from_uri().host, settings_.realm);
  if (!from_the_realm) return std::nullopt;
  if (request.method() == Method::kOptions && !iequals(request.request_uri().host, settings_.realm))
    return std::nullopt;
  return Kind::kWww;
}

// A request routed here uses this server as its outbound proxy, except when
// it ends here at one of the realm's users: a call for one of them (the
// caller's server followed our lookup's Route; the policy judges it like any
// call to them), or a request of a dialog our sealed Record-Route brings
// back to a phone's flow (flow()). Then this server is the callee's, and
// nothing may be routed on after it. A sender claiming a user of the realm
// is that user's phone using its proxy, as always.
bool Authenticator::uses_as_proxy(const SipRequest& request) const {
  if (!request.routed_here()) return false;
  if (iequals(request.from_uri().host, settings_.realm)) return true;
  const bool ends_here = request.headers("Route").empty();
  // A flow is the realm's phone's connection; never the sender's own.
  const std::string flow = request.flow();
  const bool to_a_phone = !flow.empty() && flow != request.source().text();
  const bool for_the_realm = iequals(request.request_uri().host, settings_.realm) || to_a_phone;
  return !(ends_here && for_the_realm);
}

void Authenticator::refuse_credentials(const SipRequest& request, std::string_view aor, Kind kind,
                                       std::string_view why, int64_t now, uint64_t nonce_salt) {
  refuse(request, aor, challenge_status(kind), why);
  const std::string ip = request.source().ip;
  if (static_cast<uint32_t>(nonce_salt) != source_tag(ip)) return;  // not ours to count (checked before)
  if (!bans_.fail(ip, now)) return;
  metrics_.bans.add();
  // One line per ban, for fail2ban: key=value as the refused lines, the
  // address as the core read it (no port, no transport).
  const BanSettings& ban = bans_.settings();
  log_.info("banned ip=", ip, " seconds=", ban.ban_s, " failures=", ban.after,
            " window_seconds=", ban.window_s);
}

Disposition Authenticator::on_request(IncomingRequest& incoming) {
  const SipRequest& request = incoming.request();
  const bool own_binding_rule = request.method() == Method::kRegister;
  const std::string to_aor = aor_of(request.to_uri());
  // Authenticated by an earlier handler (auth-tls, a client certificate):
  // not ours to check again, only the own-binding rule is ours to apply.
  if (const auto* identity = incoming.attributes().get(kAuthenticatedIdentity)) {
    if (own_binding_rule && iequals(request.to_uri().host, settings_.realm) &&
        !iequals(identity->aor, to_aor)) {
      refuse(request, to_aor, 403, "authenticated as " + log_safe(identity->aor) + ", not its binding");
      incoming.reply(Reply(403, "Not Your Binding"));
      return Disposition::kHandled;
    }
    return Disposition::kContinue;
  }
  const int64_t now = incoming.loop().unix_now();
  if (bans_.banned(request.source().ip, now)) return drop_banned(incoming, metrics_.discarded);
  // The ACK of this server's own 407 carries no credentials: it ends here
  // (the ACK of a forwarded INVITE's failure carries the INVITE's credentials).
  if (request.method() == Method::kAck && settings_.proxy_auth && uses_as_proxy(request) &&
      request.headers("Proxy-Authorization").empty())
    return Disposition::kHandled;
  const std::optional<Kind> kind_or_none = kind_of(request);
  if (!kind_or_none) return Disposition::kContinue;
  const Kind kind = *kind_or_none;

  const auto answer = [&](const Reply& reply) {
    incoming.reply(reply);
    return Disposition::kHandled;
  };

  // Credentials for our realm; others (for a proxy further on) are not ours.
  std::optional<DigestParams> credentials;
  bool malformed = false;
  for (const std::string_view line :
       request.headers(kind == Kind::kWww ? "Authorization" : "Proxy-Authorization")) {
    std::optional<DigestParams> parsed = digest::parse(line);
    if (!parsed) {
      malformed = true;
      continue;
    }
    if (iequals(parsed->realm, settings_.realm)) {
      credentials = std::move(parsed);
      break;
    }
  }
  if (!credentials) {
    if (malformed) refuse(request, to_aor, challenge_status(kind), "malformed credentials");
    return answer(challenge(kind, false, now, request));
  }

  const DigestParams& c = *credentials;
  const std::string claimed = c.username + "@" + settings_.realm;
  if (c.username.empty() || c.nonce.empty() || c.uri.empty() || c.response.empty()) {
    refuse(request, claimed, challenge_status(kind), "incomplete credentials");
    return answer(challenge(kind, false, now, request));
  }
  const std::optional<Algorithm> algorithm =
      c.algorithm.empty() ? std::optional<Algorithm>(Algorithm::kMd5) : digest::parse_algorithm(c.algorithm);
  if (!algorithm || std::find(settings_.algorithms.begin(), settings_.algorithms.end(), *algorithm) ==
                        settings_.algorithms.end()) {
    refuse(request, claimed, challenge_status(kind),
           "algorithm " + log_safe(c.algorithm.empty() ? "MD5" : c.algorithm) + " not offered");
    return answer(challenge(kind, false, now, request));
  }
  const std::optional<uint32_t> nc = parse_nc(c.nc);
  if (!iequals(c.qop, "auth") || c.cnonce.empty() || !nc) {
    refuse(request, claimed, challenge_status(kind), "no qop=auth with cnonce and nc");
    return answer(challenge(kind, false, now, request));
  }
  if (!same_uri(c.uri, request.request_uri())) {
    refuse(request, claimed, 400, "digest uri does not match the Request-URI");
    return answer(Reply(400, "Digest URI Mismatch"));
  }
  int64_t issued_at = 0;
  uint64_t nonce_salt = 0;
  switch (nonces_.check(c.nonce, settings_.realm, now, settings_.nonce_lifetime_s, &issued_at, &nonce_salt)) {
    case digest::NonceFactory::Check::kForged:
      refuse(request, claimed, challenge_status(kind), "forged nonce");
      return answer(challenge(kind, false, now, request));
    case digest::NonceFactory::Check::kStale:
      return answer(challenge(kind, true, now, request));
    case digest::NonceFactory::Check::kValid:
      break;
  }
  // A nonce sent to another address is answered with a fresh one for this
  // address before any password is compared: guessing from one address with
  // a nonce got at another would never count toward a ban. A client whose
  // address changed answers the new challenge.
  if (static_cast<uint32_t>(nonce_salt) != source_tag(request.source().ip))
    return answer(challenge(kind, true, now, request));

  std::shared_ptr<SuspendedRequest> suspended = incoming.suspend();
  users_.find_user(claimed, [this, suspended, credentials = std::move(credentials), algorithm = *algorithm,
                             nc = *nc, issued_at, nonce_salt, kind, claimed, to_aor,
                             own_binding_rule](StoreStatus status, const std::optional<UserRecord>& user) {
    const SipRequest& request = suspended->request();
    const int64_t now = suspended->loop().unix_now();
    if (status != StoreStatus::kOk) {
      store_outage_.failed("cannot check " + log_safe(claimed) + "'s credentials (503)");
      Reply reply(503, "User Store Unavailable");
      reply.header("Retry-After", std::to_string(settings_.retry_after_s));
      return suspended->reply(reply);
    }
    store_outage_.recovered();
    if (!user) {
      refuse_credentials(request, claimed, kind, "unknown user", now, nonce_salt);
      return suspended->reply(challenge(kind, false, now, request));
    }
    const UserCredential* stored = nullptr;
    for (const UserCredential& credential : user->credentials)
      if (iequals(credential.realm, settings_.realm) &&
          digest::parse_algorithm(credential.algorithm) == std::optional<Algorithm>(algorithm))
        stored = &credential;
    if (!stored) {
      refuse_credentials(request, claimed, kind,
                         "no " + std::string(digest::algorithm_name(algorithm)) + " credentials", now,
                         nonce_salt);
      return suspended->reply(challenge(kind, false, now, request));
    }
    const std::string expected =
        digest::response(algorithm, lowered(stored->ha1), request.method_name(), *credentials);
    if (!digest::equal_constant_time(expected, lowered(credentials->response))) {
      refuse_credentials(request, claimed, kind, "wrong password", now, nonce_salt);
      return suspended->reply(challenge(kind, false, now, request));
    }
    switch (counts_.use(credentials->nonce, issued_at, nc, now)) {
      case NonceCounts::Use::kReplayed:
        refuse(request, claimed, challenge_status(kind), "replayed nonce count");
        return suspended->reply(challenge(kind, false, now, request));
      case NonceCounts::Use::kForgotten:
        return suspended->reply(challenge(kind, true, now, request));
      case NonceCounts::Use::kAccepted:
        break;
    }
    // One may register or remove only one's own bindings.
    if (own_binding_rule && !iequals(user->aor, to_aor)) {
      refuse(request, to_aor, 403, "authenticated as " + log_safe(user->aor) + ", not its binding");
      return suspended->reply(Reply(403, "Not Your Binding"));
    }
    metrics_.ok.add();
    suspended->attributes().set(kAuthenticatedIdentity,
                                AuthenticatedIdentity{user->aor, settings_.realm, user->role, "digest"});
    suspended->resume();
  });
  return Disposition::kSuspended;
}

}  // namespace homesip::auth_digest
