#include "register_load.hpp"

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
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "homesip/digest/digest.hpp"
#include "sip_text.hpp"

namespace homesip::loadgen {

namespace {

namespace digest = homesip::digest;

constexpr int64_t kMs = 1'000'000;
// RFC 3261 17.1.2.2: a non-INVITE request is retransmitted after T1, doubling up to T2.
constexpr int64_t kT1 = 500 * kMs;
constexpr int64_t kT2 = 4000 * kMs;
// How often in-flight REGISTERs are checked for retransmission and timeout.
constexpr int64_t kTimerScan = 10 * kMs;
// A 401 to credentials (stale nonce, or a retransmission seen as a replay) is answered again,
// this many times at most; a wrong password thus fails after a bounded number of rounds.
constexpr int kMaxChallenges = 3;
constexpr int kBatch = 64;
constexpr size_t kDatagram = 8192;  // a REGISTER's response is a few hundred bytes

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

enum class Stage : uint8_t { kNotSent, kRegistering, kAuthorizing, kOk, kFailed, kTimedOut };

struct Transaction {
  int64_t started_ns = 0;
  int64_t last_sent_ns = 0;
  int64_t retransmit_after_ns = 0;
  uint32_t cseq = 0;
  Stage stage = Stage::kNotSent;
  uint8_t challenges = 0;
  std::string message;  // the request last sent, for retransmissions; freed once final

  bool in_flight() const { return stage == Stage::kRegistering || stage == Stage::kAuthorizing; }
};

// A UDP socket connected to the server: it sends to and hears from that address only.
class ConnectedUdp {
 public:
  ConnectedUdp(const std::string& local_host, uint16_t local_port, const std::string& server_host,
               uint16_t server_port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int buffer = 4 << 20;  // like SIPp's -buff_size in bench/run.sh
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    sockaddr_in local = address(local_host, local_port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      throw std::runtime_error("bind " + local_host + ":" + std::to_string(local_port) + ": " +
                               std::strerror(errno));
    sockaddr_in server = address(server_host, server_port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0)
      throw std::runtime_error("connect " + server_host + ": " + std::strerror(errno));
    socklen_t length = sizeof local;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
    port_ = ntohs(local.sin_port);
  }
  ~ConnectedUdp() { ::close(fd_); }
  ConnectedUdp(const ConnectedUdp&) = delete;
  ConnectedUdp& operator=(const ConnectedUdp&) = delete;

  int fd() const { return fd_; }
  uint16_t port() const { return port_; }
  // False when the kernel did not take it (a full send buffer): the retransmission timer covers it.
  bool send(const std::string& text) const { return ::send(fd_, text.data(), text.size(), 0) >= 0; }

 private:
  static sockaddr_in address(const std::string& host, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
      throw std::invalid_argument("not an IPv4 address: " + host);
    return a;
  }
  int fd_ = -1;
  uint16_t port_ = 0;
};

class RegisterLoad {
 public:
  explicit RegisterLoad(const LoadOptions& options)
      : options_(options),
        socket_(options.local_host, options.local_port, options.server_host, options.server_port),
        local_address_(options.local_host + ":" + std::to_string(socket_.port())),
        transactions_(options.requests),
        random_(std::random_device{}()) {
    const auto wanted = digest::parse_algorithm(options.algorithm);
    if (!wanted) throw std::invalid_argument("algorithm must be MD5 or SHA-256, not " + options.algorithm);
    algorithm_ = *wanted;
    char tag[17];
    std::snprintf(tag, sizeof tag, "%016llx", static_cast<unsigned long long>(random_()));
    run_tag_ = tag;
    // Names and passwords once, before the clock starts: the load loop only formats and hashes.
    for (uint64_t i = 0; i < options.users.count; ++i) {
      names_.push_back(options.users.name(i));
      passwords_.push_back(options.users.password(names_.back()));
    }
    latencies_.reserve(options.requests);
  }

  LoadReport run() {
    const double cpu_before = cpu_seconds();
    start_ns_ = now_ns();
    const int64_t deadline = start_ns_ + static_cast<int64_t>(options_.max_seconds * 1e9);
    int64_t next_scan = start_ns_ + kTimerScan;
    for (;;) {
      int64_t now = now_ns();
      while (next_ < transactions_.size() && due(next_) <= now) send_first(next_++, now);
      receive(now);
      if (now >= next_scan) {
        check_timers(now);
        next_scan = now + kTimerScan;
      }
      while (oldest_ < next_ && !transactions_[oldest_].in_flight()) ++oldest_;
      if (next_ == transactions_.size() && oldest_ == next_) break;
      if (now >= deadline) {
        give_up(now);
        break;
      }
      int64_t wake = next_scan;
      if (next_ < transactions_.size()) wake = std::min(wake, due(next_));
      wait(std::max<int64_t>(0, wake - now_ns()));
    }
    report_.cpu_seconds = cpu_seconds() - cpu_before;
    return summary();
  }

 private:
  int64_t due(uint64_t i) const {
    return start_ns_ + static_cast<int64_t>(static_cast<double>(i) * 1e9 / options_.rate);
  }

  std::string call_id(uint64_t i) const { return run_tag_ + "-" + std::to_string(i) + "@loadgen"; }

  std::optional<uint64_t> index_of(std::string_view id) const {
    if (id.size() <= run_tag_.size() + 1 || id.substr(0, run_tag_.size()) != run_tag_ ||
        id[run_tag_.size()] != '-')
      return std::nullopt;
    id.remove_prefix(run_tag_.size() + 1);
    uint64_t i = 0;
    const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), i);
    if (error != std::errc() || end == id.data() || i >= next_) return std::nullopt;
    return i;
  }

  const std::string& user_of(uint64_t i) const { return names_[i % names_.size()]; }
  const std::string& password_of(uint64_t i) const { return passwords_[i % passwords_.size()]; }

  void send_request(uint64_t i, Transaction& t, uint32_t cseq, const std::string& authorization,
                    int64_t now) {
    const std::string id = call_id(i);
    t.cseq = cseq;
    t.message = register_text({.domain = options_.users.domain,
                               .user = user_of(i),
                               .local_address = local_address_,
                               .call_id = id,
                               .tag = std::string_view(id).substr(0, id.find('@')),
                               .cseq = cseq,
                               .expires = options_.expires,
                               .authorization = authorization});
    t.last_sent_ns = now;
    t.retransmit_after_ns = kT1;
    socket_.send(t.message);
  }

  void send_first(uint64_t i, int64_t now) {
    Transaction& t = transactions_[i];
    t.started_ns = now;
    t.stage = Stage::kRegistering;
    send_request(i, t, 1, "", now);
  }

  void receive(int64_t now) {
    mmsghdr messages[kBatch];
    iovec vectors[kBatch];
    for (;;) {
      for (int k = 0; k < kBatch; ++k) {
        vectors[k] = {buffers_.data() + k * kDatagram, kDatagram};
        messages[k] = {};
        messages[k].msg_hdr.msg_iov = &vectors[k];
        messages[k].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(socket_.fd(), messages, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      for (int k = 0; k < n; ++k) {
        const auto response = parse_response({buffers_.data() + k * kDatagram, messages[k].msg_len});
        if (response) on_response(*response, now);
      }
      if (n < kBatch) return;
    }
  }

  void on_response(const Response& response, int64_t now) {
    const auto i = index_of(response.call_id);
    if (!i) return;
    Transaction& t = transactions_[*i];
    if (!t.in_flight() || response.cseq != t.cseq || response.status < 200) return;  // late or provisional
    if (response.status == 401 && t.challenges < kMaxChallenges) {
      if (t.stage == Stage::kAuthorizing) ++report_.extra_challenges;
      answer_challenge(*i, t, response, now);
    } else if (response.status == 200 && t.stage == Stage::kAuthorizing) {
      finish(t, Stage::kOk, now);
      latencies_.push_back((now - t.started_ns) / 1000);
    } else {
      ++report_.failures_by_status[response.status];
      finish(t, Stage::kFailed, now);
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
    ++report_.failures_by_status[401];  // no challenge we can answer
    finish(t, Stage::kFailed, now);
  }

  void finish(Transaction& t, Stage stage, int64_t now) {
    t.stage = stage;
    std::string().swap(t.message);
    last_final_ns_ = std::max(last_final_ns_, now);
  }

  void check_timers(int64_t now) {
    const int64_t timeout = static_cast<int64_t>(options_.timeout_ms) * kMs;
    for (uint64_t i = oldest_; i < next_; ++i) {
      Transaction& t = transactions_[i];
      if (!t.in_flight()) continue;
      if (now - t.started_ns >= timeout) {
        finish(t, Stage::kTimedOut, now);
      } else if (now - t.last_sent_ns >= t.retransmit_after_ns) {
        socket_.send(t.message);
        ++report_.retransmissions;
        t.last_sent_ns = now;
        t.retransmit_after_ns = std::min(2 * t.retransmit_after_ns, kT2);
      }
    }
  }

  void give_up(int64_t now) {
    for (uint64_t i = oldest_; i < next_; ++i)
      if (transactions_[i].in_flight()) finish(transactions_[i], Stage::kTimedOut, now);
  }

  void wait(int64_t ns) const {
    pollfd readable{socket_.fd(), POLLIN, 0};
    const timespec timeout{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    ::ppoll(&readable, 1, &timeout, nullptr);
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
  ConnectedUdp socket_;
  std::string local_address_;
  std::vector<Transaction> transactions_;
  std::mt19937_64 random_;
  digest::Algorithm algorithm_ = digest::Algorithm::kMd5;
  std::string run_tag_;
  std::vector<std::string> names_, passwords_;
  std::vector<int64_t> latencies_;
  std::vector<char> buffers_ = std::vector<char>(kBatch * kDatagram);
  int64_t start_ns_ = 0, last_final_ns_ = 0;
  uint64_t next_ = 0;    // the next REGISTER to start
  uint64_t oldest_ = 0;  // every REGISTER before it is final
  LoadReport report_;
};

}  // namespace

LoadReport run_register_load(const LoadOptions& options) {
  if (options.requests == 0 || options.users.count == 0) throw std::invalid_argument("nothing to send");
  if (!(options.rate > 0)) throw std::invalid_argument("rate must be positive");
  return RegisterLoad(options).run();
}

}  // namespace homesip::loadgen
