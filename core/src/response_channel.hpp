// Where the responses to a request go back: the UDP socket it came in on, or
// the TCP/TLS connection. Requests hold their channel while a handler defers
// the answer; a connection closed meanwhile drops the late response.
#pragma once

#include <sofia-sip/su.h>

#include <cstddef>
#include <string_view>

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
  virtual bool closed() const = 0;
  virtual std::string_view transport() const = 0;  // "udp", "tcp", "tls"
};

}  // namespace homesip::core
