// Where the responses to a request go back: the UDP socket it came in on, or
// the TCP/TLS connection. Requests hold their channel while a handler defers
// the answer; a connection closed meanwhile drops the late response.
#pragma once

#include <sofia-sip/su.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/reply.hpp"

struct sip_s;

namespace homesip::core {

class ResponseChannel {
 public:
  virtual ~ResponseChannel() = default;
  // Writes the response to `request`, received from `source` (loop thread).
  virtual void send_response(const sip_s& request, const su_sockaddr_t& source, const Reply& reply) = 0;
  // The same, but a datagram longer than `max_bytes` is not sent: false then
  // (server.limits.udp_amplification). A stream sends whatever the length.
  virtual bool send_response_within(const sip_s& request, const su_sockaddr_t& source, const Reply& reply,
                                    size_t /*max_bytes*/) {
    send_response(request, source, reply);
    return true;
  }
  // The names of the client certificate the TLS connection verified (SAN
  // URIs, DNS names, IPs; the CN without SAN); null for UDP, TCP and a TLS
  // client without a certificate. Shared: a request holds it, not a copy.
  virtual std::shared_ptr<const std::vector<std::string>> peer_certificate_names() const { return nullptr; }
  virtual bool closed() const = 0;
  virtual std::string_view transport() const = 0;  // "udp", "tcp", "tls"
  // How long the message being handled waited in the kernel's queue before
  // it was read (server.overload.max_queue_delay_ms); zero when not known.
  virtual std::chrono::milliseconds queue_delay() const { return std::chrono::milliseconds(0); }
};

}  // namespace homesip::core
