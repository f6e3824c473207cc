// The auth-digest handler (phase authenticate): RFC 3261 22 digest with
// RFC 8760 SHA-256 and MD5, qop=auth, stateless HMAC nonces, nonce-count
// replay protection with bounded memory, credentials from the UserStore.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "failure_bans.hpp"
#include "homesip/admin.hpp"
#include "homesip/digest/digest.hpp"
#include "homesip/handler.hpp"
#include "homesip/log.hpp"
#include "homesip/user_store.hpp"

namespace homesip::auth_digest {

struct AuthSettings {
  std::string realm;                          // "C1.D1.H1"
  std::vector<digest::Algorithm> algorithms;  // challenge order
  int64_t nonce_lifetime_s = 300;
  size_t replay_window_entries = 100000;
  bool proxy_auth = true;
  uint32_t retry_after_s = 5;  // of the 503 when the user store is down
  BanSettings bans;
};

struct AuthMetrics {
  Counter ok;          // auth_ok_total
  Counter failed;      // auth_failed_total
  Counter challenges;  // challenges_total
  Counter bans;        // bans_total
  Counter discarded;   // banned_requests_total
};

// The nonce counts seen per nonce (RFC 7616 3.4: nc strictly increasing).
// Bounded: past `capacity` nonces the oldest tracked is forgotten, and a
// nonce issued no later than one forgotten is answered as stale (its counts
// may be gone). Nonces past their lifetime are dropped. Thread-safe.
// A nonce is tracked by a 64-bit hash of it, not its text: no allocation per
// nonce and one cache line per lookup. Only nonces this server made (their
// MAC checked first) get here, so two share an entry only by accident, about
// once in 2^64 / capacity uses, and then the later one is challenged again.
class NonceCounts {
 public:
  NonceCounts(size_t capacity, int64_t lifetime_s) : capacity_(capacity), lifetime_s_(lifetime_s) {}
  enum class Use { kAccepted, kReplayed, kForgotten };
  Use use(std::string_view nonce, int64_t issued_at, uint32_t nc, int64_t now);
  size_t size() const;

 private:
  struct Entry {
    int64_t issued_at;
    uint32_t last_nc;
  };
  struct Tracked {
    uint64_t key;
    int64_t issued_at;
  };
  void forget_front();
  const size_t capacity_;
  const int64_t lifetime_s_;
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::deque<Tracked> order_;  // first use order; entries leave from the front
  bool forgot_ = false;
  int64_t forgotten_up_to_ = 0;  // the latest issue time of a nonce forgotten for room
};

class Authenticator final : public RequestHandler {
 public:
  Authenticator(UserStore& users, Logger& log, AuthSettings settings, std::string secret,
                AuthMetrics metrics);
  Disposition on_request(IncomingRequest& incoming) override;

  const AuthSettings& settings() const { return settings_; }
  const NonceCounts& nonce_counts() const { return counts_; }
  const FailureBans& bans() const { return bans_; }

 private:
  enum class Kind { kWww, kProxy };  // 401 / Authorization, 407 / Proxy-Authorization
  std::optional<Kind> kind_of(const SipRequest& request) const;
  bool uses_as_proxy(const SipRequest& request) const;
  // Its nonce's salt carries source_tag() of the address it goes to.
  Reply challenge(Kind kind, bool stale, int64_t now, const SipRequest& request) const;
  // 32 bits that tell source addresses apart, keyed by the nonce secret.
  uint32_t source_tag(std::string_view ip) const;
  // What a failed authentication is answered: a new challenge, 401 or 407.
  static int challenge_status(Kind kind);
  // A failed authentication: counted, and logged as the SDK's refused line
  // (refusal_text) with the status answered and `why` as its reason.
  void refuse(const SipRequest& request, std::string_view aor, int status, std::string_view why) const;
  // A refusal for the password or the user: counts toward a ban of the
  // source when the nonce answered was issued to that source's address, so
  // that it has received our challenge there. A UDP source can be forged; a
  // nonce sent to an address reaches no one else.
  void refuse_credentials(const SipRequest& request, std::string_view aor, Kind kind, std::string_view why,
                          int64_t now, uint64_t nonce_salt);

  UserStore& users_;
  Logger& log_;
  const AuthSettings settings_;
  const digest::NonceFactory nonces_;
  AuthMetrics metrics_;
  NonceCounts counts_;
  FailureBans bans_;
  // Each challenge's nonce salt: from a random start, so servers sharing the
  // secret do not hand out the same nonces.
  mutable std::atomic<uint64_t> salt_;
  const uint64_t source_key_;  // source_tag()'s
  OutageLog store_outage_;     // one warn line when the user store fails, one when it is back
};

}  // namespace homesip::auth_digest
