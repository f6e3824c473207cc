// UDP for the load generator and the bare responder: batched sends and receives (sendmmsg,
// recvmmsg), so that a request costs a fraction of a system call on either side.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip::loadgen {

int64_t now_ns();  // steady clock
sockaddr_in ipv4_address(const std::string& host, uint16_t port);
// A non-blocking UDP socket bound to host:port (0: any) with 4 MiB buffers, like SIPp's -buff_size.
int bound_udp_socket(const std::string& host, uint16_t port);

constexpr int kBatch = 64;
constexpr size_t kDatagram = 8192;  // a response to REGISTER or INVITE is a few hundred bytes

// A UDP socket connected to the server: it sends to and hears from that address only. Sends are
// queued (the text must stay in place until flush()) and leave in batches.
class BatchedUdp {
 public:
  BatchedUdp(const std::string& local_host, uint16_t local_port, const std::string& server_host,
             uint16_t server_port);
  ~BatchedUdp();
  BatchedUdp(const BatchedUdp&) = delete;
  BatchedUdp& operator=(const BatchedUdp&) = delete;

  uint16_t port() const { return port_; }
  void queue(std::string_view datagram) { queued_.push_back(datagram); }
  // Sends what is queued. A datagram the kernel does not take (a full send buffer) is dropped:
  // the retransmission timer covers it.
  void flush();
  // Calls on_datagram for each datagram waiting, without blocking.
  void receive(const std::function<void(std::string_view)>& on_datagram);
  void wait_readable(int64_t ns) const;

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<std::string_view> queued_;
  std::vector<char> buffers_ = std::vector<char>(kBatch * kDatagram);
};

}  // namespace homesip::loadgen
