#include "udp.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace homesip::loadgen {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

sockaddr_in ipv4_address(const std::string& host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    throw std::invalid_argument("not an IPv4 address: " + host);
  return a;
}

int bound_udp_socket(const std::string& host, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int buffer = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  sockaddr_in local = ipv4_address(host, port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error("bind " + host + ":" + std::to_string(port) + ": " + std::strerror(error));
  }
  return fd;
}

BatchedUdp::BatchedUdp(const std::string& local_host, uint16_t local_port)
    : fd_(bound_udp_socket(local_host, local_port)) {
  sockaddr_in local{};
  socklen_t length = sizeof local;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
  port_ = ntohs(local.sin_port);
}

BatchedUdp::~BatchedUdp() { ::close(fd_); }

void BatchedUdp::flush() {
  mmsghdr messages[kBatch];
  iovec vectors[kBatch];
  size_t done = 0;
  while (done < queued_.size()) {
    const int n = static_cast<int>(std::min<size_t>(kBatch, queued_.size() - done));
    for (int k = 0; k < n; ++k) {
      Queued& queued = queued_[done + k];
      vectors[k] = {const_cast<char*>(queued.datagram.data()), queued.datagram.size()};
      messages[k] = {};
      messages[k].msg_hdr.msg_iov = &vectors[k];
      messages[k].msg_hdr.msg_iovlen = 1;
      messages[k].msg_hdr.msg_name = &queued.to;
      messages[k].msg_hdr.msg_namelen = sizeof queued.to;
    }
    const int sent = ::sendmmsg(fd_, messages, n, MSG_DONTWAIT);
    // A datagram refused (a full buffer) is skipped.
    done += sent > 0 ? static_cast<size_t>(sent) : 1;
  }
  queued_.clear();
}

void BatchedUdp::receive(const std::function<void(std::string_view)>& on_datagram) {
  mmsghdr messages[kBatch];
  iovec vectors[kBatch];
  for (;;) {
    for (int k = 0; k < kBatch; ++k) {
      vectors[k] = {buffers_.data() + k * kDatagram, kDatagram};
      messages[k] = {};
      messages[k].msg_hdr.msg_iov = &vectors[k];
      messages[k].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(fd_, messages, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int k = 0; k < n; ++k) on_datagram({buffers_.data() + k * kDatagram, messages[k].msg_len});
    if (n < kBatch) return;
  }
}

void sleep_for_ns(int64_t ns) {
  timespec rest{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&rest, &rest) != 0 && errno == EINTR) {
  }
}

void wait_readable(std::vector<pollfd>& fds, int64_t ns) {
  const timespec timeout{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  if (::ppoll(fds.data(), fds.size(), &timeout, nullptr) < 0)
    for (pollfd& fd : fds) fd.revents = POLLIN;  // interrupted: look at every socket
}

}  // namespace homesip::loadgen
