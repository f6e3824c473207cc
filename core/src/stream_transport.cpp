#include "stream_transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "event_loop.hpp"
#include "listen_address.hpp"
#include "message_limits.hpp"
#include "response_encoder.hpp"

namespace homesip::core {

using Clock = std::chrono::steady_clock;

namespace {

// "IP port" of a peer: the key of StreamTransport::open_peers_.
std::string peer_key(const su_sockaddr_t& peer) {
  char text[46];
  return std::string(address_text(peer, text)) + " " + std::to_string(ntohs(peer.su_port));
}

constexpr size_t kReadChunk = 16384;
constexpr auto kSweepInterval = std::chrono::milliseconds(500);
constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
constexpr auto kLongestBackoff = std::chrono::milliseconds(2000);

int listen_on(const ListenAddress& address, PortSharing sharing) {
  const int fd = bind_listener_socket(address, SOCK_STREAM, sharing);
  if (::listen(fd, 1024) == 0) return fd;
  const int error = errno;
  ::close(fd);
  throw std::runtime_error("cannot listen on " + address.text() + ": " + std::strerror(error));
}

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

SSL_CTX* make_tls_server_context(const ListenAddress& address, const std::string& directory,
                                 TlsClientVerification verify_clients) {
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  const auto fail = [&](const std::string& what) {
    SSL_CTX_free(context);
    throw std::runtime_error("cannot listen on " + address.text() + ": " + what + ": " + openssl_error());
  };
  if (!context) fail("no TLS context");
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  const std::string agent = directory + "/agent.pem";
  if (SSL_CTX_use_certificate_chain_file(context, agent.c_str()) != 1)
    fail("cannot read the certificate " + agent);
  if (SSL_CTX_use_PrivateKey_file(context, agent.c_str(), SSL_FILETYPE_PEM) != 1)
    fail("cannot read the private key in " + agent);
  if (SSL_CTX_check_private_key(context) != 1)
    fail("the key in " + agent + " does not match its certificate");
  const std::string cafile = directory + "/cafile.pem";
  const bool have_cafile = ::access(cafile.c_str(), R_OK) == 0;
  if (have_cafile && SSL_CTX_load_verify_locations(context, cafile.c_str(), nullptr) != 1)
    fail("cannot read the CA certificates in " + cafile);
  if (verify_clients == TlsClientVerification::kNone) return context;
  if (!have_cafile) {
    if (verify_clients == TlsClientVerification::kRequired) {
      SSL_CTX_free(context);
      throw std::runtime_error("cannot listen on " + address.text() +
                               ": server.tls_verify_clients is required but there is no " + cafile);
    }
  } else if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cafile.c_str())) {
    SSL_CTX_set_client_CA_list(context, names);  // tells clients which certificate to present
  }
  // A client certificate is checked during the handshake: one that does not
  // chain to cafile.pem (or has expired) fails it. `required` also fails a
  // client that presents none.
  int mode = SSL_VERIFY_PEER;
  if (verify_clients == TlsClientVerification::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(context, mode, nullptr);
  // Resumed sessions keep the verified certificate; OpenSSL refuses to resume
  // a verified session without an id context.
  static const unsigned char kSessionContext[] = "homesip";
  SSL_CTX_set_session_id_context(context, kSessionContext, sizeof kSessionContext - 1);
  return context;
}

// One accepted connection: its socket, its TLS session when on a tls:
// listener, the bytes of the message being received and the responses not
// yet written.
class StreamConnection final : public ResponseChannel, public std::enable_shared_from_this<StreamConnection> {
 public:
  StreamConnection(StreamTransport& owner, int fd, const sockaddr_storage& peer, socklen_t peer_length)
      : owner_(&owner), fd_(fd), peer_length_(peer_length), last_activity_(Clock::now()) {
    std::memcpy(&peer_, &peer, std::min<size_t>(peer_length, sizeof peer_));
    // The first message, and the TLS handshake before it, must come in time.
    message_started_ = last_activity_;
  }
  ~StreamConnection() override { close_now(); }

  bool open(SSL_CTX* tls) {
    if (tls) {
      ssl_ = SSL_new(tls);
      if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) return false;
      SSL_set_accept_state(ssl_);
    }
    su_wait_t wait[1];
    su_wait_create(wait, fd_, SU_WAIT_IN);
    registration_ = su_root_register(owner_->loop_.root(), wait, &StreamConnection::on_event,
                                     reinterpret_cast<su_wakeup_arg_t*>(this), 0);
    return registration_ >= 0;
  }

  void send_response(const sip_s& request, const su_sockaddr_t& source, const Reply& reply) override {
    if (closed()) return;
    encode_response(request, source, reply, output_);
    write_pending();
  }
  bool closed() const override { return fd_ < 0; }
  std::string_view transport() const override { return ssl_ ? "tls" : "tcp"; }
  std::shared_ptr<const std::vector<std::string>> peer_certificate_names() const override {
    return peer_certificate_names_;
  }
  // A message written as it is (a response relayed by the stateless proxy).
  void send_bytes(std::string_view bytes) {
    if (closed()) return;
    output_.append(bytes);
    write_pending();
  }
  const su_sockaddr_t& peer() const { return reinterpret_cast<const su_sockaddr_t&>(peer_); }
  bool has_peer(const su_sockaddr_t& address) const {
    const auto& peer = reinterpret_cast<const su_sockaddr_t&>(peer_);
    if (peer.su_family != address.su_family || peer.su_port != address.su_port) return false;
    if (peer.su_family == AF_INET) return peer.su_sin.sin_addr.s_addr == address.su_sin.sin_addr.s_addr;
    return std::memcmp(&peer.su_sin6.sin6_addr, &address.su_sin6.sin6_addr, sizeof(in6_addr)) == 0;
  }

  // Closes the connection when one of its deadlines passed. Loop thread.
  void check_deadlines(Clock::time_point now) {
    if (closed()) return;
    const StreamLimits& limits = owner_->limits_;
    if (message_started_ && now - *message_started_ >= limits.message_timeout) {
      owner_->limit_log_.hit("server.connections.message_timeout_s",
                             "an incomplete message from " + peer_text());
      close_now();
    } else if (now - last_activity_ >= limits.idle_timeout) {
      owner_->limit_log_.hit("server.connections.idle_timeout_s", "an idle connection from " + peer_text());
      close_now();
    }
  }
  // Idle: no byte of a message received and no response unwritten (a fresh
  // connection that sent nothing yet is idle too).
  bool idle() const { return input_.empty() && output_.empty(); }
  Clock::time_point last_activity() const { return last_activity_; }

  void close_now() {
    if (fd_ < 0 || !owner_) return;
    if (registration_ >= 0) su_root_deregister(owner_->loop_.root(), registration_);
    registration_ = -1;
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    const int fd = fd_;
    fd_ = -1;
    ::close(fd);
    input_.clear();
    input_.shrink_to_fit();
    output_.clear();
    output_.shrink_to_fit();
    owner_->forget(fd);
  }
  // The transport is going away: close without telling it (it is clearing
  // its table); a request still holding this connection then sees it closed.
  void detach() {
    close_now();
    owner_ = nullptr;
  }

 private:
  static int on_event(su_root_magic_t*, su_wait_t* wait, su_wakeup_arg_t* arg) {
    auto* self = reinterpret_cast<StreamConnection*>(arg);
    const auto keep = self->shared_from_this();  // a close below must not destroy it under us
    const int events = su_wait_events(wait, self->fd_);
    if (events & SU_WAIT_OUT) self->write_pending();
    if (!self->closed() && (events & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR))) self->read_available();
    return 0;
  }

  // Once the handshake is done: the names of the client certificate, when it
  // presented one that verified (an invalid one failed the handshake).
  void remember_peer_certificate() {
    peer_checked_ = true;
    X509* certificate = SSL_get1_peer_certificate(ssl_);
    if (!certificate) return;
    if (SSL_get_verify_result(ssl_) == X509_V_OK)
      peer_certificate_names_ =
          std::make_shared<const std::vector<std::string>>(certificate_names(certificate));
    X509_free(certificate);
  }

  // A handshake that failed over the client's certificate: one line, then
  // counted (tls_verify_clients). Other failures (a port scan, a client
  // that gave up) are not worth a line.
  void log_refused_certificate() {
    const long verified = SSL_get_verify_result(ssl_);
    std::string reason;
    if (verified != X509_V_OK)
      reason = X509_verify_cert_error_string(verified);
    else if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
      reason = "no client certificate";
    else
      return;
    owner_->limit_log_.hit("tls_handshake",
                           "a client certificate refused from " + peer_text() + ": " + reason);
  }

  std::string peer_text() const {
    char text[46];
    const std::string_view ip = address_text(reinterpret_cast<const su_sockaddr_t&>(peer_), text);
    return std::string(ip) + ":" +
           std::to_string(ntohs(reinterpret_cast<const su_sockaddr_t&>(peer_).su_port));
  }

  // Reads what the socket has, in chunks, never buffering more than one
  // message's limit plus one chunk.
  void read_available() {
    char chunk[kReadChunk];
    for (;;) {
      const ssize_t n = receive(chunk, sizeof chunk);
      if (n == 0 || n == -2) {  // closed by the peer, or a fatal error
        close_now();
        return;
      }
      if (n < 0) return;  // nothing more for now
      last_activity_ = Clock::now();
      if (!message_started_) message_started_ = last_activity_;
      input_.append(chunk, static_cast<size_t>(n));
      if (!deliver_messages()) return;
      if (static_cast<size_t>(n) < sizeof chunk && !(ssl_ && SSL_pending(ssl_) > 0)) return;
    }
  }

  // >0 bytes read; 0 end of stream; -1 would block; -2 fatal.
  ssize_t receive(char* buffer, size_t size) {
    if (!ssl_) {
      const ssize_t n = ::recv(fd_, buffer, size, 0);
      if (n >= 0) return n;
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    }
    ERR_clear_error();
    const bool handshaking = !SSL_is_init_finished(ssl_);
    const int n = SSL_read(ssl_, buffer, static_cast<int>(size));
    if (!peer_checked_ && SSL_is_init_finished(ssl_)) remember_peer_certificate();
    if (n > 0) return n;
    const int error = SSL_get_error(ssl_, n);
    if (handshaking && error == SSL_ERROR_SSL) log_refused_certificate();
    switch (error) {
      case SSL_ERROR_WANT_READ:
        return -1;
      case SSL_ERROR_WANT_WRITE:  // renegotiation or handshake wants to write: wait for room
        want_output(true);
        return -1;
      case SSL_ERROR_ZERO_RETURN:
        return 0;
      default:
        return -2;
    }
  }

  // Hands every complete message in the buffer to the sink; false when the
  // connection was closed.
  bool deliver_messages() {
    StreamTransport& owner = *owner_;
    const size_t cap = owner.limits_.max_message_bytes;
    while (!closed() && !input_.empty()) {
      const StreamFrame frame = frame_stream_message(input_, searched_);
      if (frame.state == StreamFrame::State::kKeepalive) {
        // RFC 5626 3.5.1: a double-CRLF ping gets a CRLF pong.
        if (std::string_view(input_).substr(0, frame.length).find("\r\n\r\n") != std::string_view::npos)
          output_ += "\r\n";
        input_.erase(0, frame.length);
        continue;
      }
      if (frame.state == StreamFrame::State::kInvalid) {
        owner.limit_log_.hit("framing", "a message without a valid Content-Length from " + peer_text());
        close_now();  // the stream's next message cannot be found any more
        return false;
      }
      if (frame.state == StreamFrame::State::kIncomplete) {
        if (input_.size() > cap || frame.length > cap) {
          owner.limit_log_.hit("server.limits.max_message_bytes", "a message too large from " + peer_text());
          reject_too_large();
          return false;
        }
        break;
      }
      if (frame.length > cap) {
        owner.limit_log_.hit("server.limits.max_message_bytes", "a message too large from " + peer_text());
        reject_too_large();
        return false;
      }
      // The sink reads the message in place (the parser copies what it keeps);
      // an answer that fails to write may close the connection meanwhile.
      const auto next =
          owner.sink_(std::string_view(input_.data(), frame.length),
                      reinterpret_cast<const su_sockaddr_t&>(peer_), peer_length_, shared_from_this(), false);
      if (closed()) return false;
      input_.erase(0, frame.length);
      searched_ = 0;
      message_started_.reset();
      if (next == StreamTransport::Next::kClose) {
        write_pending();
        close_now();
        return false;
      }
    }
    if (!input_.empty() && !message_started_) message_started_ = Clock::now();
    if (input_.empty()) message_started_.reset();
    write_pending();
    return !closed();
  }

  // The message will not fit: answer 513 from what of its headers is here,
  // then close, since the rest of it cannot be skipped reliably.
  void reject_too_large() {
    owner_->sink_(input_, reinterpret_cast<const su_sockaddr_t&>(peer_), peer_length_, shared_from_this(),
                  true);
    write_pending();
    close_now();
  }

  void write_pending() {
    while (!closed() && !output_.empty()) {
      const ssize_t n = send(output_.data(), output_.size());
      if (n == -2) {
        close_now();
        return;
      }
      if (n < 0) break;
      output_.erase(0, static_cast<size_t>(n));
      last_activity_ = Clock::now();
    }
    if (closed()) return;
    if (output_.size() > owner_->limits_.max_output_bytes) {
      owner_->limit_log_.hit("server.connections.max_output_bytes",
                             "a peer that does not read: " + peer_text());
      close_now();
      return;
    }
    want_output(!output_.empty());
  }

  ssize_t send(const char* data, size_t size) {
    if (!ssl_) {
      const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    }
    ERR_clear_error();
    const int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    if (n > 0) return n;
    const int error = SSL_get_error(ssl_, n);
    return error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ ? -1 : -2;
  }

  void want_output(bool on) {
    if (on == waiting_for_output_ || registration_ < 0) return;
    waiting_for_output_ = on;
    su_root_eventmask(owner_->loop_.root(), registration_, fd_, on ? SU_WAIT_IN | SU_WAIT_OUT : SU_WAIT_IN);
  }

  StreamTransport* owner_;
  int fd_;
  SSL* ssl_ = nullptr;
  // The verified client certificate's names, shared with the requests that
  // came over this connection (ResponseChannel::peer_certificate_names).
  std::shared_ptr<const std::vector<std::string>> peer_certificate_names_;
  bool peer_checked_ = false;
  int registration_ = -1;
  sockaddr_storage peer_{};
  socklen_t peer_length_;
  std::string input_;
  size_t searched_ = 0;
  std::string output_;
  bool waiting_for_output_ = false;
  Clock::time_point last_activity_;
  std::optional<Clock::time_point> message_started_;
};

StreamTransport::StreamTransport(SofiaEventLoop& loop, const ListenAddress& address, PortSharing sharing,
                                 SSL_CTX* tls, const StreamLimits& limits, ConnectionBudget& budget,
                                 RoomMaker make_room, LimitLog& limit_log, Sink sink)
    : loop_(loop),
      address_(address),
      limits_(limits),
      budget_(budget),
      make_room_(std::move(make_room)),
      limit_log_(limit_log),
      sink_(std::move(sink)) {
  if (address.transport == "tls") {
    if (!tls) throw std::logic_error("a tls: listener without a TLS context");
    SSL_CTX_up_ref(tls);
    tls_ = tls;
  }
  try {
    fd_ = listen_on(address, sharing);
  } catch (...) {
    if (tls_) SSL_CTX_free(tls_);
    throw;
  }
  su_wait_t wait[1];
  su_wait_create(wait, fd_, SU_WAIT_ACCEPT);
  registration_ = su_root_register(loop_.root(), wait, &StreamTransport::on_acceptable,
                                   reinterpret_cast<su_wakeup_arg_t*>(this), 0);
  if (registration_ < 0) {
    close();
    throw std::runtime_error("cannot listen on " + address.text() + ": su_root_register failed");
  }
  sweep_timer_ = loop_.start_timer(kSweepInterval, true, [this] { sweep(); });
}

StreamTransport::~StreamTransport() { close(); }

void StreamTransport::close() {
  sweep_timer_.reset();
  resume_timer_.reset();
  if (registration_ >= 0) su_root_deregister(loop_.root(), registration_);
  registration_ = -1;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  auto connections = std::move(connections_);
  connections_.clear();
  {
    const std::lock_guard lock(peers_mutex_);
    open_peers_.clear();
  }
  for (auto& [fd, connection] : connections) {
    connection->detach();  // forget() finds it gone from the table: its slot is given back here
    budget_.give_back();
  }
  if (tls_) SSL_CTX_free(tls_);
  tls_ = nullptr;
}

int StreamTransport::on_acceptable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* self) {
  reinterpret_cast<StreamTransport*>(self)->accept_connections();
  return 0;
}

void StreamTransport::accept_connections() {
  // A bounded number per wake-up, so a connection flood cannot starve the rest of the loop.
  for (int i = 0; i < 64 && fd_ >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
      pause_accepting(errno);
      return;
    }
    backoff_ = std::chrono::milliseconds(0);
    if (!budget_.try_take() && !make_room_()) {
      limit_log_.hit("server.connections.max", "every connection is busy; refused one");
      ::close(fd);
      continue;
    }
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    auto connection = std::make_shared<StreamConnection>(*this, fd, peer, length);
    connections_.emplace(fd, connection);
    {
      const std::lock_guard lock(peers_mutex_);
      ++open_peers_[peer_key(reinterpret_cast<const su_sockaddr_t&>(peer))];
    }
    if (!connection->open(tls_)) connection->close_now();
  }
}

// Out of descriptors (or memory): stop accepting for a while rather than
// spin on a listener that stays readable, and try again with a longer pause
// each time it fails.
void StreamTransport::pause_accepting(int error) {
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kLongestBackoff);
  limit_log_.hit("accept", address_.text() + ": accept failed (" + std::string(std::strerror(error)) +
                               "); pausing " + std::to_string(backoff_.count()) + " ms");
  su_root_eventmask(loop_.root(), registration_, fd_, 0);
  resume_timer_ = loop_.start_timer(backoff_, false, [this] { resume_accepting(); });
}

void StreamTransport::resume_accepting() {
  if (fd_ < 0) return;
  su_root_eventmask(loop_.root(), registration_, fd_, SU_WAIT_ACCEPT);
}

bool StreamTransport::steer_group_to_first() const { return fd_ >= 0 && steer_port_group_to_first(fd_); }

bool StreamTransport::spread_group_by_source(uint32_t sockets, uint16_t key) const {
  return spread_port_group_by_source(fd_, sockets, key);
}

std::optional<Clock::time_point> StreamTransport::oldest_idle() const {
  std::optional<Clock::time_point> oldest;
  for (const auto& [fd, connection] : connections_)
    if (connection->idle() && (!oldest || connection->last_activity() < *oldest))
      oldest = connection->last_activity();
  return oldest;
}

bool StreamTransport::close_oldest_idle(bool hand_over) {
  std::shared_ptr<StreamConnection> oldest;
  for (const auto& [fd, connection] : connections_)
    if (connection->idle() && (!oldest || connection->last_activity() < oldest->last_activity()))
      oldest = connection;
  if (!oldest) return false;
  limit_log_.hit("server.connections.max", "closed the connection idle the longest for a new one");
  handing_over_slot_ = hand_over;
  oldest->close_now();
  handing_over_slot_ = false;
  return true;
}

void StreamTransport::sweep() {
  const auto now = Clock::now();
  std::vector<std::shared_ptr<StreamConnection>> all;
  all.reserve(connections_.size());
  for (const auto& [fd, connection] : connections_) all.push_back(connection);
  for (const auto& connection : all) connection->check_deadlines(now);
}

void StreamTransport::forget(int fd) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  {
    const std::lock_guard lock(peers_mutex_);
    const auto peer = open_peers_.find(peer_key(it->second->peer()));
    if (peer != open_peers_.end() && --peer->second <= 0) open_peers_.erase(peer);
  }
  connections_.erase(it);
  if (!handing_over_slot_) budget_.give_back();
}

bool StreamTransport::has_connection_any_thread(const su_sockaddr_t& peer) const {
  const std::lock_guard lock(peers_mutex_);
  return open_peers_.count(peer_key(peer)) > 0;
}

bool StreamTransport::send_to(const su_sockaddr_t& peer, std::string_view bytes) {
  // A scan: relayed responses over streams are rare next to requests, and
  // the table is keyed by descriptor for the reads.
  for (auto& [fd, connection] : connections_)
    if (!connection->closed() && connection->has_peer(peer)) {
      connection->send_bytes(bytes);
      return true;
    }
  return false;
}

std::vector<std::string> certificate_names(X509* certificate) {
  std::vector<std::string> names;
  auto* alternatives =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (alternatives) {
    const auto text_of = [](const ASN1_STRING* value) {
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                         static_cast<size_t>(ASN1_STRING_length(value)));
    };
    for (const int wanted : {GEN_URI, GEN_DNS, GEN_IPADD})
      for (int i = 0; i < sk_GENERAL_NAME_num(alternatives); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(alternatives, i);
        if (name->type != wanted) continue;
        if (wanted == GEN_URI) names.push_back(text_of(name->d.uniformResourceIdentifier));
        if (wanted == GEN_DNS) names.push_back(text_of(name->d.dNSName));
        if (wanted == GEN_IPADD) {
          const ASN1_OCTET_STRING* ip = name->d.iPAddress;
          const int family = ASN1_STRING_length(ip) == 4    ? AF_INET
                             : ASN1_STRING_length(ip) == 16 ? AF_INET6
                                                            : 0;
          char text[INET6_ADDRSTRLEN];
          if (family && ::inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text))
            names.push_back(text);
        }
      }
    const bool had_any = sk_GENERAL_NAME_num(alternatives) > 0;
    GENERAL_NAMES_free(alternatives);
    if (had_any) return names;
  }
  // RFC 6125 6.4.4: the CN only when the certificate has no SAN.
  char common_name[256];
  const int length = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName,
                                               common_name, sizeof common_name);
  if (length > 0) names.emplace_back(common_name, static_cast<size_t>(length));
  return names;
}

}  // namespace homesip::core
