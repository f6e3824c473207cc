// TCP and TLS listeners the core owns, on the loop thread. Each connection
// frames messages on the raw stream (RFC 3261 18.3) and hands each whole
// message's bytes to the sink, so the same limits and the same parser serve
// every transport, and responses go back on the connection the request came
// in on, written by the one response encoder.
//
// Every connection is bounded: its input buffer (one message at most), its
// output (a peer that does not read is dropped), the time a message may take
// to arrive (slowloris) and the time it may stay idle. Past the configured
// number of connections the longest idle one makes room; accept() failures
// (out of descriptors) pause accepting with a growing back-off instead of
// spinning. nta's tport had none of this; see docs/configuration.md.
//
// Above one loop (server.loops) each loop has its own transport per stream
// listener, its socket in the address's SO_REUSEPORT group: the kernel gives
// each new connection to one of them, and that loop serves the connection
// to its end. The connection limit is one budget over all of them.
#pragma once

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "homesip/loop.hpp"
#include "limit_log.hpp"
#include "listen_address.hpp"
#include "response_channel.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

namespace homesip::core {

class StreamConnection;
class SofiaEventLoop;

// server.connections.max over every loop's stream listeners: a connection is
// kept only with a slot, taken without a lock from any loop.
class ConnectionBudget {
 public:
  explicit ConnectionBudget(size_t max) : max_(max) {}
  // A slot when fewer than max are taken.
  bool try_take() {
    size_t used = used_.load(std::memory_order_relaxed);
    while (used < max_)
      if (used_.compare_exchange_weak(used, used + 1, std::memory_order_relaxed)) return true;
    return false;
  }
  void give_back() { used_.fetch_sub(1, std::memory_order_relaxed); }
  // Open connections, from any thread.
  size_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  const size_t max_;
  std::atomic<size_t> used_{0};
};

class StreamTransport {
 public:
  // What the sink tells the connection after a message.
  enum class Next { kContinue, kClose };
  // Gets each whole message (bytes valid during the call) with its source and
  // connection; `too_large` when it exceeds max_message_bytes and the bytes
  // are only its beginning (answered 513, then the connection is closed).
  using Sink = std::function<Next(std::string_view, const su_sockaddr_t&, socklen_t,
                                  const std::shared_ptr<ResponseChannel>&, bool too_large)>;
  // Called when the budget is spent and a connection waits to be accepted:
  // true when a slot was handed over to it (close_oldest_idle(true) on a
  // transport of this loop), false to refuse it.
  using RoomMaker = std::function<bool()>;
  using Clock = std::chrono::steady_clock;

  // Binds and listens on `address` (tcp or tls) as `sharing` says, on
  // `loop`'s thread, whose loop it is. A tls: listener needs `tls`
  // (make_tls_server_context, shared by every loop's listener of the
  // address: one session cache). Throws std::runtime_error naming it.
  StreamTransport(SofiaEventLoop& loop, const ListenAddress& address, PortSharing sharing, SSL_CTX* tls,
                  const StreamLimits& limits, ConnectionBudget& budget, RoomMaker make_room,
                  LimitLog& limit_log, Sink sink);
  ~StreamTransport();
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  // Closes the listener and every connection; on the loop's thread.
  void close();
  const ListenAddress& address() const { return address_; }
  SofiaEventLoop& loop() const { return loop_; }
  // Steers new connections of the address to the main loop's listener
  // (steer_port_group_to_first); on the main loop's transport.
  bool steer_group_to_first() const;
  // New connections spread evenly over the group's `sockets` sockets:
  // spread_port_group_by_source(). False (errno set) when the kernel refused.
  bool spread_group_by_source(uint32_t sockets, uint16_t key) const;
  // When the connection idle the longest was last active; none when no
  // connection is idle. On the loop's thread.
  std::optional<Clock::time_point> oldest_idle() const;
  // Closes the connection idle the longest: its slot goes to the connection
  // being accepted (`hand_over`) or back to the budget. On the loop's thread.
  bool close_oldest_idle(bool hand_over);
  // Writes `bytes` on the open connection from `peer`; false when there is
  // none. On the loop's thread.
  bool send_to(const su_sockaddr_t& peer, std::string_view bytes);
  // Whether a connection from `peer` is open, from any thread (another loop
  // asks whether a phone's flow is open here), from a table kept beside the
  // loop's.
  bool has_connection_any_thread(const su_sockaddr_t& peer) const;

 private:
  friend class StreamConnection;
  static int on_acceptable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* self);
  void accept_connections();
  void pause_accepting(int error);
  void resume_accepting();
  void sweep();
  void forget(int fd);

  SofiaEventLoop& loop_;
  ListenAddress address_;
  StreamLimits limits_;
  ConnectionBudget& budget_;
  RoomMaker make_room_;
  // close_oldest_idle(true) gives the closed connection's slot to the one accepted.
  bool handing_over_slot_ = false;
  LimitLog& limit_log_;
  Sink sink_;
  SSL_CTX* tls_ = nullptr;
  int fd_ = -1;
  int registration_ = -1;
  std::chrono::milliseconds backoff_{0};
  std::unique_ptr<Timer> resume_timer_;
  std::unique_ptr<Timer> sweep_timer_;
  std::unordered_map<int, std::shared_ptr<StreamConnection>> connections_;
  // The peers of connections_, by address, for has_connection_any_thread.
  mutable std::mutex peers_mutex_;
  std::unordered_map<std::string, int> open_peers_;
};

// The server side of TLS 1.2+ for `address`: agent.pem in `directory` holds
// the key and the certificate chain, cafile.pem the CAs whose clients may
// present certificates (asked per `verify_clients`). Throws
// std::runtime_error naming the listener; the caller frees it (SSL_CTX_free).
SSL_CTX* make_tls_server_context(const ListenAddress& address, const std::string& directory,
                                 TlsClientVerification verify_clients);

// What a certificate names, in that order: SAN URIs, DNS names and IP
// addresses (as text), or its CN when it has no SAN at all.
std::vector<std::string> certificate_names(X509* certificate);

}  // namespace homesip::core
