// A UDP listener the core owns, on the loop thread. Datagrams come in batches
// (recvmmsg), each handed to the sink as raw bytes (the server checks its
// limits, then sofia-sip parses it); responses queue and leave in batches (sendmmsg)
// when the loop is about to wait again. nta's UDP transport spent three more
// system calls per datagram (ioctl, getsockopt, epoll_wait) and rebuilt every
// response as a full sofia message; see docs/architecture.md.
#pragma once

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "config.hpp"
#include "listen_address.hpp"
#include "response_channel.hpp"
#include "wake_coalescer.hpp"

namespace homesip::core {

// A UDP socket bound to `address`, its buffers set to `buffer_bytes`. Throws
// std::runtime_error naming the address.
int bind_udp_socket(const ListenAddress& address, int buffer_bytes, PortSharing sharing);

class UdpTransport final : public ResponseChannel, public std::enable_shared_from_this<UdpTransport> {
 public:
  // Gets each datagram's bytes and source (valid during the call) with the transport it came in on.
  using Sink = std::function<void(std::string_view, const su_sockaddr_t&, socklen_t, UdpTransport&)>;

  // Starts reading `fd` (bind_udp_socket's, which this takes) on `root`'s
  // thread, telling `coalescer` (the loop's, which outlives this) when
  // datagrams wake it. Throws std::runtime_error naming the address.
  UdpTransport(su_root_t* root, const ListenAddress& address, int fd, WakeCoalescer& coalescer, Sink sink);
  ~UdpTransport() override;
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  // A cleared buffer for one datagram to `destination`; it leaves with the
  // next flush(). Loop thread only.
  std::string& queue(const su_sockaddr_t& destination);
  // Sends what is queued. Called when the loop is about to wait.
  void flush();
  // Stops reading and closes the socket; what is queued is sent first.
  void close();
  // From now on the kernel gives every datagram of this socket's SO_REUSEPORT
  // group to the group's first socket (the main loop's): the other loops keep
  // their sockets to answer what they hold, and nothing new reaches them.
  // False (errno set) when the kernel refused.
  bool steer_group_to_first();
  // The group (one socket per loop, `sockets` in all) spreads senders evenly:
  // spread_port_group_by_source(). False (errno set) when the kernel refused.
  bool spread_group_by_source(uint32_t sockets, uint16_t key);
  bool closed() const override { return fd_ < 0; }
  // Queues the response to the address RFC 3261 18.2.2 and RFC 3581 name.
  void send_response(const sip_s& request, const su_sockaddr_t& source, const Reply& reply) override;
  // Writes it into the batch, and takes it out again when it is longer than `max_bytes`.
  bool send_response_within(const sip_s& request, const su_sockaddr_t& source, const Reply& reply,
                            size_t max_bytes) override;
  std::string_view transport() const override { return "udp"; }
  const ListenAddress& address() const { return address_; }
  // How long the datagram being delivered waited in the socket's queue
  // before this loop read it (from its kernel receive timestamp). During a
  // Sink call only; zero when the kernel gave no timestamp.
  std::chrono::milliseconds queue_delay() const override { return queue_delay_; }

 private:
  static constexpr size_t kBatch = 32;
  static int on_readable(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t* self);
  void receive();
  void deliver(const char* data, size_t length, const sockaddr_storage& from, socklen_t from_length);
  // From entry `i`'s SO_TIMESTAMPNS and the time the batch was read.
  std::chrono::milliseconds waited(size_t i, const timespec& read_at);

  struct Outgoing {
    std::string bytes;
    su_sockaddr_t destination{};
  };

  su_root_t* root_;
  ListenAddress address_;
  WakeCoalescer& coalescer_;
  Sink sink_;
  int fd_ = -1;
  int registration_ = -1;
  // Receive buffers: one maximal datagram per slot, allocated once.
  std::unique_ptr<char[]> buffers_;
  std::array<sockaddr_storage, kBatch> sources_{};
  std::array<Outgoing, kBatch> outgoing_;
  size_t queued_ = 0;
  // recvmmsg's and sendmmsg's entries, pointed at the buffers, sources and
  // destinations once: zeroing and filling 32 of each per wake-up was about
  // 1,200 instructions, paid per request when requests come one at a time.
  std::array<mmsghdr, kBatch> in_headers_{};
  std::array<iovec, kBatch> in_vectors_{};
  std::array<mmsghdr, kBatch> out_headers_{};
  std::array<iovec, kBatch> out_vectors_{};
  // Each entry's control buffer, for its kernel receive timestamp.
  struct alignas(cmsghdr) Control {
    char bytes[CMSG_SPACE(sizeof(timespec))];
  };
  std::array<Control, kBatch> controls_{};
  std::chrono::milliseconds queue_delay_{0};
};

}  // namespace homesip::core
