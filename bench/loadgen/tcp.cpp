#include "tcp.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace homesip::loadgen {
namespace {

// The length of the whole message at the start of `input` (head, blank line and Content-Length
// bytes of body), or 0 while it is incomplete. The caller skips CRLF keep-alives before it.
size_t framed_length(std::string_view input) {
  const size_t head_end = input.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return 0;
  const auto skip_blanks = [](std::string_view s, size_t at) {
    while (at < s.size() && (s[at] == ' ' || s[at] == '\t')) ++at;
    return at;
  };
  size_t body = 0;
  for (size_t line = input.find("\r\n"); line < head_end; line = input.find("\r\n", line + 2)) {
    const std::string_view header = input.substr(line + 2, head_end - line - 2);
    for (const std::string_view name : {std::string_view("Content-Length"), std::string_view("l")}) {
      if (header.size() <= name.size() || ::strncasecmp(header.data(), name.data(), name.size()) != 0)
        continue;
      size_t at = skip_blanks(header, name.size());  // "Content-Length :" is allowed (RFC 3261 25.1)
      if (at >= header.size() || header[at] != ':') continue;
      at = skip_blanks(header, at + 1);
      std::from_chars(header.data() + at, header.data() + header.size(), body);
    }
  }
  const size_t total = head_end + 4 + body;
  return input.size() >= total ? total : 0;
}

}  // namespace

TcpConnection::TcpConnection(const std::string& local_host, const sockaddr_in& server) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  sockaddr_in local = ipv4_address(local_host, 0);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd_, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
    const int error = errno;
    ::close(fd_);
    char host[INET_ADDRSTRLEN] = "";
    ::inet_ntop(AF_INET, &server.sin_addr, host, sizeof host);
    throw std::runtime_error("TCP connection to " + std::string(host) + ":" +
                             std::to_string(ntohs(server.sin_port)) + ": " + std::strerror(error));
  }
  socklen_t length = sizeof local;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
  port_ = ntohs(local.sin_port);
}

TcpConnection::~TcpConnection() { ::close(fd_); }

void TcpConnection::flush() {
  while (!closed_ && !output_.empty()) {
    const ssize_t n = ::send(fd_, output_.data(), output_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      output_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    closed_ = true;
    output_.clear();
  }
}

void TcpConnection::receive(const std::function<void(std::string_view)>& on_message) {
  char chunk[65536];
  while (!closed_) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      input_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    closed_ = true;  // the server closed or reset it
  }
  size_t at = 0;
  while (at < input_.size()) {
    while (at + 1 < input_.size() && input_[at] == '\r' && input_[at + 1] == '\n') at += 2;  // keep-alives
    const size_t length = framed_length(std::string_view(input_).substr(at));
    if (length == 0) break;
    on_message(std::string_view(input_).substr(at, length));
    at += length;
  }
  input_.erase(0, at);
}

}  // namespace homesip::loadgen
