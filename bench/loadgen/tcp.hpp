// A TCP connection for the load generator (--transport tcp): one per --sockets, connected to the
// server before the clock starts from a port the kernel picks (the Contact names --local-port + k
// when given, so that runs refresh each other's bindings). What is queued leaves in one write per flush;
// responses are framed on the stream by their Content-Length (RFC 3261 18.3). No retransmissions: the
// transport is reliable (RFC 3261 17.1.1.2 and 17.1.2.2).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "udp.hpp"

namespace homesip::loadgen {

class TcpConnection final : public Channel {
 public:
  // Connects from local_host (any port) to `server`; throws std::runtime_error when it cannot.
  TcpConnection(const std::string& local_host, const sockaddr_in& server);
  ~TcpConnection() override;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // -1 once the server closed it: nothing to wait for there any more (ppoll skips it).
  int fd() const override { return closed_ ? -1 : fd_; }
  uint16_t port() const override { return port_; }
  void queue(std::string_view message, const sockaddr_in&) override {
    if (!closed_) output_.append(message);  // a closed connection's requests time out
  }
  // Writes what the kernel takes now; the rest waits for the next flush. A connection the server
  // closed or reset stays closed: its requests time out.
  void flush() override;
  void receive(const std::function<void(std::string_view)>& on_message) override;

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  bool closed_ = false;
  std::string output_;
  std::string input_;
};

}  // namespace homesip::loadgen
