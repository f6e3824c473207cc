#include "tls_probe.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "homesip/uri.hpp"

namespace homesip::ua {
namespace {

constexpr int kProbeTimeoutMs = 5000;

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

bool iequals(const std::string& a, const std::string& b) { return uri_detail::iequals(a, b); }

// A TCP connection to host:port within the probe's time, -1 when none.
int connect_to(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) return -1;
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const bool started =
      fd >= 0 && (::connect(fd, found->ai_addr, found->ai_addrlen) == 0 || errno == EINPROGRESS);
  ::freeaddrinfo(found);
  pollfd writable{fd, POLLOUT, 0};
  int error = started && ::poll(&writable, 1, kProbeTimeoutMs) == 1 ? 0 : -1;
  socklen_t size = sizeof error;
  if (error == 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = -1;
  if (error != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  // The handshake below is blocking, bounded by these timeouts.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const timeval timeout{kProbeTimeoutMs / 1000, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return fd;
}

// close_notify, then what the peer still sends (TLS 1.3 session tickets)
// read away: a socket closed with unread bytes resets the connection, which
// a sofia-sip peer logs as "Connection reset by peer".
void close_quietly(SSL* ssl, int fd) {
  SSL_shutdown(ssl);
  ::shutdown(fd, SHUT_WR);
  const timeval brief{0, 200 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof brief);
  char sink[4096];
  for (int reads = 0; reads < 16 && ::recv(fd, sink, sizeof sink, 0) > 0; ++reads) {
  }
}

std::string text_of(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// The names sofia-sip 1.12's tls_post_connection_check compares with the URI
// host: subjectAltName DNS and URI entries, the CN only when there are none.
// It never sees an IP address entry (it looks for OpenSSL's label "IP", which
// OpenSSL spells "IP Address").
std::vector<std::string> sofia_names(X509* certificate) {
  std::vector<std::string> names;
  std::unique_ptr<GENERAL_NAMES, NamesFree> alt(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; alt && i < sk_GENERAL_NAME_num(alt.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt.get(), i);
    if (name->type == GEN_DNS) names.push_back(text_of(name->d.dNSName));
    if (name->type == GEN_URI) names.push_back(text_of(name->d.uniformResourceIdentifier));
  }
  if (names.empty()) {
    char common_name[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common_name,
                                  sizeof common_name) > 0)
      names.push_back(common_name);
  }
  return names;
}

// tport_subject_search: a "sip:" name matches by what follows the scheme, so
// sip:127.0.0.1 names the host 127.0.0.1 and sip:H1@C1.D1 names no host.
bool names_host(const std::vector<std::string>& names, const std::string& host) {
  for (const auto& name : names) {
    const bool sip_uri = name.size() > 4 && iequals(name.substr(0, 4), "sip:");
    if (iequals(sip_uri ? name.substr(4) : name, host)) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

std::string name_refusal(X509* certificate, const std::string& host, const std::string& where) {
  const auto names = sofia_names(certificate);
  if (names_host(names, host)) return "";
  std::string why =
      "the certificate of " + where + " does not name " + host + " (names: " + joined(names) + ")";
  const std::string bare = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  unsigned char address[16];
  const bool is_ip =
      ::inet_pton(AF_INET, bare.c_str(), address) == 1 || ::inet_pton(AF_INET6, bare.c_str(), address) == 1;
  if (is_ip && X509_check_ip_asc(certificate, bare.c_str(), 0) == 1)
    why += "; it has " + bare +
           " as an IP address entry, which sofia-sip does not read: add URI:sip:" + host +
           " (homesipctl pki issue does)";
  return why;
}

}  // namespace

bool is_tls_uri(const std::string& uri) {
  const auto parsed = parse_uri(uri);
  if (!parsed) return false;
  if (uri_detail::iequals(parsed->scheme, "sips")) return true;
  for (std::string_view params = parsed->params; !params.empty();) {
    const size_t semi = params.find(';');
    if (uri_detail::iequals(params.substr(0, semi), "transport=tls")) return true;
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
  }
  return false;
}

std::string tls_refusal(const std::string& uri, const std::string& ca_file) {
  const auto parsed = parse_uri(uri);
  if (!parsed) return "";
  const std::string host(parsed->host);
  const std::string port = parsed->port.empty() ? "5061" : std::string(parsed->port);
  const std::string where = host + ":" + port;
  const std::string address = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  Socket socket(connect_to(address, port));
  if (socket.fd() < 0) return "";

  std::unique_ptr<SSL_CTX, SslCtxFree> context(SSL_CTX_new(TLS_client_method()));
  if (!context) return "";
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(context.get(), ca_file.c_str(), nullptr) != 1)
    return "--ca " + ca_file + " holds no CA certificate (PEM)";
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(context.get()));
  SSL_set_fd(ssl.get(), socket.fd());
  if (SSL_connect(ssl.get()) != 1) {
    char reason[256] = "";
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    return "no TLS handshake with " + where + " (" + reason + ")";
  }
  std::unique_ptr<X509, X509Free> certificate(SSL_get1_peer_certificate(ssl.get()));
  close_quietly(ssl.get(), socket.fd());
  if (!certificate) return where + " presented no certificate";
  const long verdict = SSL_get_verify_result(ssl.get());
  if (verdict != X509_V_OK)
    return "the certificate of " + where + " is not trusted with --ca " + ca_file + ": " +
           X509_verify_cert_error_string(verdict);
  return name_refusal(certificate.get(), host, where);
}

}  // namespace homesip::ua
