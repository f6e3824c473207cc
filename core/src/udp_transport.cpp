#include "udp_transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "listen_address.hpp"
#include "response_encoder.hpp"

namespace homesip::core {
namespace {

// The largest UDP payload (IPv4: 65535 - 8 - 20).
constexpr size_t kMaxDatagram = 65507;
// Batches read per wakeup before other sockets and timers get their turn.
constexpr int kBatchesPerWakeup = 4;

}  // namespace

int bind_udp_socket(const ListenAddress& address, int buffer_bytes, PortSharing sharing) {
  const int fd = bind_listener_socket(address, SOCK_DGRAM, sharing);
  // The opening burst of a load fills the default buffers (about 200 KiB) in
  // milliseconds; the kernel caps the size at net.core.[rw]mem_max.
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
  const int one = 1;
  // A receive timestamp on every datagram: how long a request queued before
  // the loop read it, the sign of overload that the loop's own lag misses
  // (server.overload.max_queue_delay_ms).
  ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  return fd;
}

UdpTransport::UdpTransport(su_root_t* root, const ListenAddress& address, int fd, WakeCoalescer& coalescer,
                           Sink sink)
    : root_(root),
      address_(address),
      coalescer_(coalescer),
      sink_(std::move(sink)),
      fd_(fd),
      buffers_(new char[kBatch * kMaxDatagram]) {
  for (size_t i = 0; i < kBatch; ++i) {
    in_vectors_[i] = {buffers_.get() + i * kMaxDatagram, kMaxDatagram};
    in_headers_[i].msg_hdr.msg_iov = &in_vectors_[i];
    in_headers_[i].msg_hdr.msg_iovlen = 1;
    in_headers_[i].msg_hdr.msg_name = &sources_[i];
    in_headers_[i].msg_hdr.msg_control = controls_[i].bytes;
    out_headers_[i].msg_hdr.msg_iov = &out_vectors_[i];
    out_headers_[i].msg_hdr.msg_iovlen = 1;
    out_headers_[i].msg_hdr.msg_name = &outgoing_[i].destination;
  }
  su_wait_t wait[1];
  su_wait_create(wait, fd_, SU_WAIT_IN);
  registration_ =
      su_root_register(root_, wait, &UdpTransport::on_readable, reinterpret_cast<su_wakeup_arg_t*>(this), 0);
  if (registration_ < 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot listen on " + address.text() + ": su_root_register failed");
  }
}

UdpTransport::~UdpTransport() { close(); }

bool UdpTransport::steer_group_to_first() { return fd_ >= 0 && steer_port_group_to_first(fd_); }

bool UdpTransport::spread_group_by_source(uint32_t sockets, uint16_t key) {
  return spread_port_group_by_source(fd_, sockets, key);
}

void UdpTransport::close() {
  if (fd_ < 0) return;
  flush();
  su_root_deregister(root_, registration_);
  ::close(fd_);
  fd_ = -1;
}

int UdpTransport::on_readable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* self) {
  reinterpret_cast<UdpTransport*>(self)->receive();
  return 0;
}

void UdpTransport::receive() {
  for (int round = 0; round < kBatchesPerWakeup && fd_ >= 0; ++round) {
    // The kernel writes each entry's length, source length and flags; the
    // buffers and addresses the entries point at stay as the constructor set them.
    for (auto& header : in_headers_) {
      header.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      header.msg_hdr.msg_controllen = sizeof(Control::bytes);
    }
    const int received = ::recvmmsg(fd_, in_headers_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (received <= 0) break;  // EAGAIN: drained; other errors are ICMP reports for earlier sends
    coalescer_.on_datagrams(WakeCoalescer::Clock::now(), static_cast<size_t>(received));
    timespec read_at{};
    ::clock_gettime(CLOCK_REALTIME, &read_at);  // the timestamps' clock
    for (int i = 0; i < received; ++i) {
      queue_delay_ = waited(static_cast<size_t>(i), read_at);
      deliver(static_cast<const char*>(in_vectors_[i].iov_base), in_headers_[i].msg_len, sources_[i],
              in_headers_[i].msg_hdr.msg_namelen);
    }
    queue_delay_ = std::chrono::milliseconds(0);
    if (static_cast<size_t>(received) < kBatch) break;
    if (round + 1 == kBatchesPerWakeup) coalescer_.on_backlog();  // more wait: no pause
  }
  flush();
}

std::chrono::milliseconds UdpTransport::waited(size_t i, const timespec& read_at) {
  msghdr& header = in_headers_[i].msg_hdr;
  for (cmsghdr* control = CMSG_FIRSTHDR(&header); control; control = CMSG_NXTHDR(&header, control)) {
    if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec stamp{};
    std::memcpy(&stamp, CMSG_DATA(control), sizeof stamp);
    const int64_t ns = (read_at.tv_sec - stamp.tv_sec) * 1'000'000'000LL + (read_at.tv_nsec - stamp.tv_nsec);
    // The wall clock may step back between the two readings: no wait then.
    return std::chrono::milliseconds(std::max<int64_t>(ns, 0) / 1'000'000);
  }
  return std::chrono::milliseconds(0);
}

void UdpTransport::deliver(const char* data, size_t length, const sockaddr_storage& from,
                           socklen_t from_length) {
  // An empty datagram or a bare CRLF or two: a NAT keepalive (RFC 5626 3.5.1).
  if (length <= 4 && std::all_of(data, data + length, [](char c) { return c == '\r' || c == '\n'; })) return;
  sink_(std::string_view(data, length), reinterpret_cast<const su_sockaddr_t&>(from), from_length, *this);
}

void UdpTransport::send_response(const sip_t& request, const su_sockaddr_t& source, const Reply& reply) {
  if (!request.sip_via) return;  // nowhere to send it (the checks before the handlers drop these)
  // A top Via of another transport cannot say where a datagram's answer goes:
  // it goes back where the request came from (RFC 3261 18.2.2).
  const bool udp_via = su_casematch(request.sip_via->v_protocol, sip_transport_udp);
  encode_response(request, source, reply,
                  queue(udp_via ? response_destination(*request.sip_via, source) : source));
}

bool UdpTransport::send_response_within(const sip_t& request, const su_sockaddr_t& source, const Reply& reply,
                                        size_t max_bytes) {
  const size_t before = queued_;
  send_response(request, source, reply);
  // Encoded in place (no copy): the slot just filled is the last one.
  if (queued_ == 0 || queued_ == before || outgoing_[queued_ - 1].bytes.size() <= max_bytes) return true;
  --queued_;
  return false;
}

std::string& UdpTransport::queue(const su_sockaddr_t& destination) {
  if (queued_ == kBatch) flush();
  Outgoing& slot = outgoing_[queued_++];
  slot.destination = destination;
  slot.bytes.clear();
  return slot.bytes;
}

void UdpTransport::flush() {
  if (queued_ == 0) return;
  if (fd_ < 0) {
    queued_ = 0;
    return;
  }
  for (size_t i = 0; i < queued_; ++i) {
    Outgoing& slot = outgoing_[i];
    out_vectors_[i] = {slot.bytes.data(), slot.bytes.size()};
    out_headers_[i].msg_hdr.msg_namelen = address_length(slot.destination);
  }
  // Each pass sends at least one datagram or skips the one that failed, so
  // the loop ends within `queued_` passes.
  size_t next = 0;
  while (next < queued_) {
    const int sent =
        ::sendmmsg(fd_, out_headers_.data() + next, static_cast<unsigned>(queued_ - next), MSG_DONTWAIT);
    if (sent > 0) {
      next += static_cast<size_t>(sent);
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      break;  // the send buffer is full: the clients retransmit, as on any lost datagram
    } else {
      ++next;  // this destination failed (unreachable, refused): skip it
    }
  }
  queued_ = 0;
}

}  // namespace homesip::core
