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
#pragma once

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "homesip/loop.hpp"
#include "limit_log.hpp"
#include "response_channel.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

namespace homesip::core {

class StreamConnection;
class SofiaEventLoop;

class StreamTransport {
 public:
  // What the sink tells the connection after a message.
  enum class Next { kContinue, kClose };
  // Gets each whole message (bytes valid during the call) with its source and
  // connection; `too_large` when it exceeds max_message_bytes and the bytes
  // are only its beginning (answered 513, then the connection is closed).
  using Sink = std::function<Next(std::string_view, const su_sockaddr_t&, socklen_t,
                                  const std::shared_ptr<ResponseChannel>&, bool too_large)>;

  // Binds and listens on `address` (tcp or tls). A tls: listener asks its
  // clients for certificates per `verify_clients`, verified against
  // cafile.pem in `tls_certificates`. Throws std::runtime_error naming it.
  StreamTransport(SofiaEventLoop& loop, const ListenAddress& address, const StreamLimits& limits,
                  const std::string& tls_certificates, TlsClientVerification verify_clients,
                  LimitLog& limit_log, Sink sink);
  ~StreamTransport();
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  // Closes the listener and every connection.
  void close();
  const ListenAddress& address() const { return address_; }
  size_t connection_count() const { return connections_.size(); }
  // Writes `bytes` on the open connection from `peer`; false when there is none.
  bool send_to(const su_sockaddr_t& peer, std::string_view bytes);
  bool has_connection(const su_sockaddr_t& peer) const;
  // The same from any thread (a loop other than this transport's asks
  // whether a phone's flow is open), from a table kept beside the loop's.
  bool has_connection_any_thread(const su_sockaddr_t& peer) const;

 private:
  friend class StreamConnection;
  static int on_acceptable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* self);
  void accept_connections();
  void pause_accepting(int error);
  void resume_accepting();
  bool make_room();
  void sweep();
  void forget(int fd);

  SofiaEventLoop& loop_;
  ListenAddress address_;
  StreamLimits limits_;
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

// What a certificate names, in that order: SAN URIs, DNS names and IP
// addresses (as text), or its CN when it has no SAN at all.
std::vector<std::string> certificate_names(X509* certificate);

}  // namespace homesip::core
