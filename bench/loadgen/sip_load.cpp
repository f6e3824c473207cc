#include "sip_load.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "homesip/digest/digest.hpp"
#include "sip_text.hpp"
#include "tcp.hpp"
#include "udp.hpp"

namespace homesip::loadgen {

namespace {

namespace digest = homesip::digest;

constexpr int64_t kMs = 1'000'000;
// RFC 3261 17.1.1.2 / 17.1.2.2: retransmit after T1, doubling (a non-INVITE up to T2).
constexpr int64_t kT1 = 500 * kMs;
constexpr int64_t kT2 = 4000 * kMs;
// First sends per turn of the loop at most: a generator that fell behind (no CPU for a while)
// catches up in steps, reading responses between them, rather than in one burst that overflows
// its own receive buffer.
constexpr uint64_t kMaxStartsPerTurn = 256;
// The longest the loop sleeps: it then sees the run's deadline.
constexpr int64_t kMaxSleep = 10 * kMs;
// A 401 to credentials (stale nonce, or a retransmission seen as a replay) is answered again,
// this many times at most; a wrong password thus fails after a bounded number of rounds.
constexpr int kMaxChallenges = 3;

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// kWaiting: a 503's Retry-After runs; the request is sent again when it ends.
enum class Stage : uint8_t { kNotSent, kSent, kAuthorizing, kWaiting, kOk, kFailed, kTimedOut };

struct Transaction {
  int64_t started_ns = 0;  // the request's first send: its latency counts from here
  int64_t attempt_ns = 0;  // this attempt's first send (a retry or a hop): its timeout counts from here
  int64_t last_sent_ns = 0;
  int64_t retransmit_after_ns = 0;
  int64_t retry_at_ns = 0;  // kWaiting: when to send again
  uint32_t cseq = 0;
  uint32_t server = 0;  // index into SipLoad::servers_: where this request goes (a 302 moves it)
  Stage stage = Stage::kNotSent;
  uint8_t challenges = 0;
  uint8_t busy_retries = 0;
  uint8_t hops = 0;
  std::string message;  // the request last sent, for retransmissions; freed once final

  bool in_flight() const {
    return stage == Stage::kSent || stage == Stage::kAuthorizing || stage == Stage::kWaiting;
  }
};

class SipLoad {
 public:
  explicit SipLoad(const LoadOptions& options)
      : options_(options), transactions_(options.requests), random_(std::random_device{}()) {
    const sockaddr_in server = ipv4_address(options.server_host, options.server_port);
    server_index(server);  // index 0
    for (uint32_t k = 0; k < options.sockets; ++k) {
      const uint16_t port = options.local_port == 0 ? 0 : static_cast<uint16_t>(options.local_port + k);
      if (tcp())
        sockets_.push_back(std::make_unique<TcpConnection>(options.local_host, server));
      else
        sockets_.push_back(std::make_unique<BatchedUdp>(options.local_host, port));
      local_addresses_.push_back(options.local_host + ":" + std::to_string(sockets_.back()->port()));
      // A connection's port is new every run: with --local-port its Contact names local_port + k
      // instead, so a later run refreshes the bindings of an earlier one (as over UDP), and the
      // server reaches it on its connection anyway (RFC 5626 flows).
      contact_addresses_.push_back(tcp() && port != 0 ? options.local_host + ":" + std::to_string(port)
                                                      : local_addresses_.back());
    }
    const auto wanted = digest::parse_algorithm(options.algorithm);
    if (!wanted) throw std::invalid_argument("algorithm must be MD5 or SHA-256, not " + options.algorithm);
    algorithm_ = *wanted;
    char tag[17];
    std::snprintf(tag, sizeof tag, "%016llx", static_cast<unsigned long long>(random_()));
    run_tag_ = tag;
    // Names and passwords once, before the clock starts: the load loop only formats and hashes.
    for (uint64_t i = 0; i < options.users.count; ++i) {
      names_.push_back(options.users.name(i));
      if (options.authenticate) passwords_.push_back(options.users.password(names_.back()));
    }
    latencies_.reserve(options.requests);
  }

  LoadReport run() {
    const double cpu_before = cpu_seconds();
    start_ns_ = now_ns();
    deadline_ns_ = start_ns_ + static_cast<int64_t>(options_.max_seconds * 1e9);
    const int64_t deadline = deadline_ns_;
    for (;;) {
      int64_t now = now_ns();
      start_due(now);
      flush();
      receive(now_ns());  // a response read now is timed now, not at the top of the loop
      fire_timers(now_ns());
      flush();
      while (oldest_ < next_ && !transactions_[oldest_].in_flight()) ++oldest_;
      if (next_ == transactions_.size() && oldest_ == next_) break;
      if (now >= deadline) {
        give_up(now);
        break;
      }
      int64_t wake = now + kMaxSleep;
      // The timers of transactions already final are dropped here rather than woken for.
      while (!timers_.empty() && !transactions_[timers_.top().second].in_flight()) timers_.pop();
      if (!timers_.empty()) wake = std::min(wake, timers_.top().first);
      if (next_ < transactions_.size() && !window_full()) wake = std::min(wake, due(next_));
      int64_t wait = std::max<int64_t>(0, wake - now_ns());
      if (tick_ns() > 0) {
        // Responses wait for the next tick rather than waking the loop each.
        wait = std::min(wait, tick_ns());
        sleep_for_ns(wait);
        wait = 0;
      }
      polled_.clear();  // a connection the server closed (fd -1) is not waited for
      for (const auto& socket : sockets_) polled_.push_back({socket->fd(), POLLIN, 0});
      wait_readable(polled_, wait);
    }
    report_.cpu_seconds = cpu_seconds() - cpu_before;
    return summary();
  }

 private:
  bool is_invite() const { return options_.method == Method::kInvite; }
  bool tcp() const { return options_.transport == Transport::kTcp; }
  bool window_full() const { return options_.window > 0 && in_flight_ >= options_.window; }

  int64_t due(uint64_t i) const {
    // Burst: requests k*B .. k*B+B-1 all at start + k*B/rate; even: request i at start + i/rate.
    const uint64_t slot = options_.pattern == Pattern::kBurst ? i - i % options_.burst : i;
    const auto offset = static_cast<int64_t>(static_cast<double>(slot) * 1e9 / options_.rate);
    const int64_t tick = tick_ns();
    return start_ns_ + (tick > 0 ? (offset + tick - 1) / tick * tick : offset);
  }
  int64_t tick_ns() const { return static_cast<int64_t>(options_.tick_us) * 1000; }

  void start_due(int64_t now) {
    for (uint64_t started = 0;
         started < kMaxStartsPerTurn && next_ < transactions_.size() && due(next_) <= now && !window_full();
         ++started) {
      report_.max_start_lag_us = std::max(report_.max_start_lag_us, (now - due(next_)) / 1000);
      send_first(next_++, now);
    }
  }

  // The branch names the transaction: run tag, request index, CSeq (a REGISTER with credentials
  // is a new transaction of the same request).
  std::string branch(uint64_t i, uint32_t cseq) const {
    return run_tag_ + "." + std::to_string(i) + "." + std::to_string(cseq);
  }

  std::optional<uint64_t> index_of(std::string_view branch) const {
    constexpr std::string_view kMagicCookie = "z9hG4bK";
    if (branch.substr(0, kMagicCookie.size()) != kMagicCookie) return std::nullopt;
    branch.remove_prefix(kMagicCookie.size());
    if (branch.size() <= run_tag_.size() + 1 || branch.substr(0, run_tag_.size()) != run_tag_ ||
        branch[run_tag_.size()] != '.')
      return std::nullopt;
    branch.remove_prefix(run_tag_.size() + 1);
    uint64_t i = 0;
    const auto [end, error] = std::from_chars(branch.data(), branch.data() + branch.size(), i);
    if (error != std::errc() || end == branch.data() || i >= next_) return std::nullopt;
    return i;
  }

  std::string call_id(uint64_t i) const {
    if (options_.call_id_scope == CallIdScope::kPerUser) return "reg-" + user_of(i) + "@loadgen";
    return run_tag_ + "-" + std::to_string(i) + "@loadgen";
  }
  // Per user, round r of a user's requests has CSeq first + r (with digest: two CSeqs a round).
  uint32_t first_cseq_of(uint64_t i) const {
    if (options_.call_id_scope == CallIdScope::kPerRequest) return options_.first_cseq;
    const uint64_t round = i / names_.size();
    return options_.first_cseq + static_cast<uint32_t>(round * (options_.authenticate ? 2 : 1));
  }

  const std::string& user_of(uint64_t i) const { return names_[i % names_.size()]; }
  const std::string& domain_of(uint64_t i) const {
    const auto& domains = options_.domains;
    return domains.empty() ? options_.users.domain : domains[(i % names_.size()) % domains.size()];
  }
  const std::string& password_of(uint64_t i) const { return passwords_[i % passwords_.size()]; }

  Request request_of(uint64_t i, std::string_view method, const std::string& id, const std::string& tag,
                     const std::string& via_branch, uint32_t cseq) const {
    Request request;
    request.method = method;
    request.domain = domain_of(i);
    request.user = user_of(i);
    request.caller = "loadgen";
    request.local_address = local_addresses_[i % sockets_.size()];
    request.contact_address = contact_addresses_[i % sockets_.size()];
    request.call_id = id;
    request.from_tag = tag;
    request.branch = via_branch;
    request.cseq = cseq;
    request.expires = options_.expires;
    request.transport = tcp() ? "TCP" : "UDP";
    return request;
  }

  void send_request(uint64_t i, Transaction& t, uint32_t cseq, const std::string& authorization,
                    int64_t now) {
    const std::string id = call_id(i), tag = run_tag_ + std::to_string(i), via_branch = branch(i, cseq);
    Request request = request_of(i, is_invite() ? "INVITE" : "REGISTER", id, tag, via_branch, cseq);
    request.authorization = authorization;
    t.cseq = cseq;
    t.message = request_text(request);
    t.last_sent_ns = now;
    // Over TCP nothing is retransmitted: only the timeout's timer fires.
    t.retransmit_after_ns = tcp() ? std::numeric_limits<int64_t>::max() / 4 : kT1;
    queue(i, t, t.message);
    arm_timer(i, t);
  }

  // RFC 3261 17.1.1.3: the ACK of a non-2xx final is part of the INVITE's transaction (same
  // branch, the response's To tag). A final response retransmitted (the ACK was lost) is ACKed again.
  void send_ack(uint64_t i, const Transaction& t, const Response& response) {
    const std::string id = call_id(i), tag = run_tag_ + std::to_string(i), via_branch = branch(i, t.cseq);
    Request ack = request_of(i, "ACK", id, tag, via_branch, t.cseq);
    ack.to_tag = response.to_tag;
    acks_.push_back(request_text(ack));
    queue(i, t, acks_.back());
  }

  void send_first(uint64_t i, int64_t now) {
    Transaction& t = transactions_[i];
    t.started_ns = now;
    t.attempt_ns = now;
    t.stage = Stage::kSent;
    ++in_flight_;
    send_request(i, t, first_cseq_of(i), "", now);
  }

  // Reads the sockets the last wait found readable (all of them before the first wait): with
  // 8 sockets, reading every one each turn made 8 system calls a turn, most of them for nothing,
  // on the CPU the servers share with the generator. What arrives after the wait is read next
  // turn: that wait returns at once.
  void receive(int64_t now) {
    acks_.clear();  // sent by the last flush
    for (size_t k = 0; k < sockets_.size(); ++k) {
      if (polled_.size() == sockets_.size() && polled_[k].revents == 0) continue;
      sockets_[k]->receive([&](std::string_view datagram) {
        const auto response = parse_response(datagram);
        if (response) on_response(*response, now);
      });
    }
  }

  void on_response(const Response& response, int64_t now) {
    const auto i = index_of(response.branch);
    if (!i || response.status < 200) return;  // not ours, or provisional
    Transaction& t = transactions_[*i];
    if (response.cseq != t.cseq) return;  // late: to an earlier request of this transaction
    if (is_invite()) {
      send_ack(*i, t, response);
      if (!t.in_flight()) return;  // a retransmitted final: ACKed again, counted once
      if (response.status == options_.expect_status)
        succeed(t, now);
      else
        fail(t, response.status, now);
      return;
    }
    if (!t.in_flight() || t.stage == Stage::kWaiting) return;
    if (response.status == 503 && response.retry_after_s >= 0 && options_.honour_retry_after) {
      ++report_.busy_503;
      wait_to_retry(*i, t, response.retry_after_s, now);
    } else if (response.status == 302 && options_.follow_redirects) {
      follow_redirect(*i, t, response, now);
    } else if (response.status == 401 && options_.authenticate && t.challenges < kMaxChallenges) {
      if (t.stage == Stage::kAuthorizing) ++report_.extra_challenges;
      answer_challenge(*i, t, response, now);
    } else if (response.status == 200 && (t.stage == Stage::kAuthorizing || !options_.authenticate)) {
      succeed(t, now);
    } else {
      fail(t, response.status, now);
    }
  }

  void answer_challenge(uint64_t i, Transaction& t, const Response& response, int64_t now) {
    ++t.challenges;
    for (const std::string_view value : response.challenges) {
      const auto challenge = digest::parse(value);
      if (!challenge) continue;
      const auto offered = challenge->algorithm.empty() ? std::optional(digest::Algorithm::kMd5)
                                                        : digest::parse_algorithm(challenge->algorithm);
      if (offered != algorithm_) continue;
      char cnonce[17];
      std::snprintf(cnonce, sizeof cnonce, "%016llx", static_cast<unsigned long long>(random_()));
      const auto authorization = digest::authorization(*challenge, user_of(i), password_of(i), "REGISTER",
                                                       "sip:" + options_.users.domain, cnonce, 1);
      if (!authorization) break;
      t.stage = Stage::kAuthorizing;
      send_request(i, t, t.cseq + 1, *authorization, now);
      return;
    }
    fail(t, 401, now);  // no challenge we can answer
  }

  // RFC 3261 21.5.4: the client may retry after Retry-After. Up to 10% more, so that requests
  // refused in the same instant do not all come back in the same one.
  void wait_to_retry(uint64_t i, Transaction& t, int retry_after_s, int64_t now) {
    const int64_t wait = static_cast<int64_t>(retry_after_s) * 1'000'000'000;
    const int64_t retry_at =
        now + wait + static_cast<int64_t>(random_() % static_cast<uint64_t>(wait / 10 + 1));
    if (t.busy_retries >= kMaxBusyRetries || retry_at >= deadline_ns_) {
      fail(t, 503, now);
      return;
    }
    ++t.busy_retries;
    t.stage = Stage::kWaiting;
    t.retry_at_ns = retry_at;
    std::string().swap(t.message);
    timers_.emplace(retry_at, i);
  }

  // The same request, a new transaction (CSeq + 1, its own branch): a 401 is answered afresh.
  void send_again(uint64_t i, Transaction& t, int64_t now) {
    t.stage = Stage::kSent;
    t.challenges = 0;
    t.attempt_ns = now;
    send_request(i, t, t.cseq + 1, "", now);
  }

  // A 302 names the next server down the tree: the REGISTER goes there (RFC 3261 8.1.3.4).
  void follow_redirect(uint64_t i, Transaction& t, const Response& response, int64_t now) {
    const auto colon = response.contact_host_port.rfind(':');
    if (t.hops >= kMaxRedirects || colon == std::string_view::npos) {
      fail(t, 302, now);
      return;
    }
    const std::string host(response.contact_host_port.substr(0, colon));
    uint16_t port = 0;
    const auto number = response.contact_host_port.substr(colon + 1);
    std::from_chars(number.data(), number.data() + number.size(), port);
    sockaddr_in address{};
    try {
      address = ipv4_address(host, port);
    } catch (const std::invalid_argument&) {
      fail(t, 302, now);  // not an IPv4 address: nowhere this generator can send to
      return;
    }
    t.server = server_index(address);
    ++t.hops;
    ++report_.redirects;
    report_.max_hops = std::max<uint32_t>(report_.max_hops, t.hops);
    send_again(i, t, now);
  }

  uint32_t server_index(const sockaddr_in& address) {
    const uint64_t key = (static_cast<uint64_t>(address.sin_addr.s_addr) << 16) | address.sin_port;
    const auto [at, added] = server_indexes_.emplace(key, static_cast<uint32_t>(servers_.size()));
    if (added) servers_.push_back(address);
    return at->second;
  }

  void queue(uint64_t i, const Transaction& t, std::string_view datagram) {
    sockets_[i % sockets_.size()]->queue(datagram, servers_[t.server]);
  }

  void flush() {
    for (auto& socket : sockets_) socket->flush();
  }

  void succeed(Transaction& t, int64_t now) {
    finish(t, Stage::kOk, now);
    latencies_.push_back((now - t.started_ns) / 1000);
  }
  void fail(Transaction& t, int status, int64_t now) {
    ++report_.failures_by_status[status];
    finish(t, Stage::kFailed, now);
  }
  void finish(Transaction& t, Stage stage, int64_t now) {
    t.stage = stage;
    --in_flight_;
    std::string().swap(t.message);
    last_final_ns_ = std::max(last_final_ns_, now);
  }

  // The next retransmission, or the timeout when it comes first: one timer per transaction in a
  // heap, so that a long queue in flight (an overloaded server) costs no scans.
  void arm_timer(uint64_t i, const Transaction& t) {
    const int64_t timeout = static_cast<int64_t>(options_.timeout_ms) * kMs;
    timers_.emplace(std::min(t.last_sent_ns + t.retransmit_after_ns, t.attempt_ns + timeout), i);
  }

  void fire_timers(int64_t now) {
    const int64_t timeout = static_cast<int64_t>(options_.timeout_ms) * kMs;
    while (!timers_.empty() && timers_.top().first <= now) {
      const uint64_t i = timers_.top().second;
      timers_.pop();
      Transaction& t = transactions_[i];
      if (!t.in_flight()) continue;
      if (t.stage == Stage::kWaiting) {
        if (now >= t.retry_at_ns) {
          ++report_.busy_retries;
          send_again(i, t, now);
        }  // else: a retransmission timer of the attempt refused
      } else if (now - t.attempt_ns >= timeout) {
        finish(t, Stage::kTimedOut, now);
      } else if (now - t.last_sent_ns >= t.retransmit_after_ns) {
        queue(i, t, t.message);
        ++report_.retransmissions;
        t.last_sent_ns = now;
        t.retransmit_after_ns =
            is_invite() ? 2 * t.retransmit_after_ns : std::min(2 * t.retransmit_after_ns, kT2);
        arm_timer(i, t);
      }  // else: a stale timer of a request sent again since (the credentials); its own is armed
    }
  }

  void give_up(int64_t now) {
    for (uint64_t i = oldest_; i < next_; ++i)
      if (transactions_[i].in_flight()) finish(transactions_[i], Stage::kTimedOut, now);
  }

  LoadReport summary() {
    LoadReport& r = report_;
    r.requests = next_;
    for (uint64_t i = 0; i < next_; ++i) {
      switch (transactions_[i].stage) {
        case Stage::kOk:
          ++r.ok;
          break;
        case Stage::kFailed:
          ++r.failed;
          break;
        default:
          ++r.timed_out;
          break;
      }
    }
    if (next_ > 0)
      r.send_seconds = static_cast<double>(transactions_[next_ - 1].started_ns - start_ns_) / 1e9;
    r.elapsed_seconds = static_cast<double>(std::max(last_final_ns_, start_ns_) - start_ns_) / 1e9;
    if (r.elapsed_seconds > 0) r.achieved_per_second = static_cast<double>(r.ok) / r.elapsed_seconds;
    if (!latencies_.empty()) {
      std::sort(latencies_.begin(), latencies_.end());
      const auto at = [&](double q) {
        return latencies_[std::min(latencies_.size() - 1,
                                   static_cast<size_t>(q * static_cast<double>(latencies_.size())))];
      };
      r.p50_us = at(0.50);
      r.p99_us = at(0.99);
      r.max_us = latencies_.back();
    }
    if (r.requests > 0) r.cpu_us_per_request = r.cpu_seconds * 1e6 / static_cast<double>(r.requests);
    return r;
  }

  const LoadOptions& options_;
  std::vector<std::unique_ptr<Channel>> sockets_;
  std::vector<pollfd> polled_;                  // the sockets' last wait: which were readable
  std::vector<std::string> local_addresses_;    // Via of each socket's requests
  std::vector<std::string> contact_addresses_;  // and their Contact
  std::vector<sockaddr_in> servers_;            // [0]: --server; then each 302's target once
  std::unordered_map<uint64_t, uint32_t> server_indexes_;
  std::vector<Transaction> transactions_;
  std::deque<std::string> acks_;  // queued ACKs: a deque keeps their text in place until the flush
  std::mt19937_64 random_;
  digest::Algorithm algorithm_ = digest::Algorithm::kMd5;
  std::string run_tag_;
  std::vector<std::string> names_, passwords_;
  std::vector<int64_t> latencies_;
  using Timer = std::pair<int64_t, uint64_t>;  // when, transaction
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  int64_t start_ns_ = 0, deadline_ns_ = 0, last_final_ns_ = 0;
  uint64_t next_ = 0;    // the next request to start
  uint64_t oldest_ = 0;  // every request before it is final
  uint64_t in_flight_ = 0;
  LoadReport report_;
};

}  // namespace

LoadReport run_load(const LoadOptions& options) {
  if (options.requests == 0 || options.users.count == 0) throw std::invalid_argument("nothing to send");
  if (!(options.rate > 0)) throw std::invalid_argument("rate must be positive");
  if (options.burst == 0) throw std::invalid_argument("burst must be positive");
  if (options.sockets == 0) throw std::invalid_argument("sockets must be positive");
  if (options.transport == Transport::kTcp && options.follow_redirects)
    throw std::invalid_argument("--follow-redirects is for UDP only (a connection goes to one server)");
  if (!options.domains.empty() && (options.authenticate || options.method != Method::kRegister))
    throw std::invalid_argument("--domains is for REGISTER with --no-auth only");
  return SipLoad(options).run();
}

}  // namespace homesip::loadgen
