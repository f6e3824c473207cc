// UDP for the load generator and the bare responder: batched sends and receives (sendmmsg,
// recvmmsg), so that a request costs a fraction of a system call on either side. A TCP
// connection (tcp.hpp) is the other Channel.
#pragma once

#include <netinet/in.h>
#include <poll.h>
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

// Where the load's requests leave and its responses come in: a UDP socket or a TCP connection.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual int fd() const = 0;         // -1 when there is nothing to wait for
  virtual uint16_t port() const = 0;  // the local port: the requests' Via and Contact
  // Queues `message` for `to` (a connection ignores it: it goes to its server); the text must
  // stay in place until flush().
  virtual void queue(std::string_view message, const sockaddr_in& to) = 0;
  virtual void flush() = 0;
  // Calls on_message for each whole message waiting, without blocking.
  virtual void receive(const std::function<void(std::string_view)>& on_message) = 0;
};

// A bound UDP socket that sends to any server (a redirect names another) and hears from any.
// Sends are queued (the text must stay in place until flush()) and leave in batches.
class BatchedUdp final : public Channel {
 public:
  BatchedUdp(const std::string& local_host, uint16_t local_port);
  ~BatchedUdp() override;
  BatchedUdp(const BatchedUdp&) = delete;
  BatchedUdp& operator=(const BatchedUdp&) = delete;

  int fd() const override { return fd_; }
  uint16_t port() const override { return port_; }
  void queue(std::string_view datagram, const sockaddr_in& to) override { queued_.push_back({datagram, to}); }
  // Sends what is queued. A datagram the kernel does not take (a full send buffer) is dropped:
  // the retransmission timer covers it.
  void flush() override;
  void receive(const std::function<void(std::string_view)>& on_datagram) override;

 private:
  struct Queued {
    std::string_view datagram;
    sockaddr_in to;
  };
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<Queued> queued_;
  std::vector<char> buffers_ = std::vector<char>(kBatch * kDatagram);
};

// Sleeps ns, whatever arrives meanwhile (the loop's tick).
void sleep_for_ns(int64_t ns);
// Waits up to ns until one of the sockets has a datagram; each one's revents tells which.
void wait_readable(std::vector<pollfd>& fds, int64_t ns);

}  // namespace homesip::loadgen
