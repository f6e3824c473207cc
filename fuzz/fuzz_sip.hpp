// Parsing a fuzz input the way SipServer::receive does: the raw-byte limits
// first (nothing over them reaches sofia-sip's parser), then
// parse_sip_message into a msg_t of its own.
#pragma once

#include <arpa/inet.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include <cstring>
#include <string_view>

#include "message_limits.hpp"
#include "sip_message.hpp"

namespace homesip::fuzz {

// A source address: IPv4 192.0.2.7:5070, or IPv6 2001:db8::7 port 5070.
inline su_sockaddr_t source_address(bool ipv6, socklen_t& length) {
  su_sockaddr_t from;
  std::memset(&from, 0, sizeof from);
  if (ipv6) {
    from.su_sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::7", &from.su_sin6.sin6_addr);
    from.su_sin6.sin6_port = htons(5070);
    length = sizeof from.su_sin6;
  } else {
    from.su_sin.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &from.su_sin.sin_addr);
    from.su_sin.sin_port = htons(5070);
    length = sizeof from.su_sin;
  }
  return from;
}

// The parsed message, or null when the limits refuse it (the server answers
// from reply_skeleton then) or allocation failed. The caller msg_destroy()s it.
inline msg_t* parse_within_limits(std::string_view bytes, const su_sockaddr_t& from, socklen_t length) {
  if (!core::check_message(bytes, core::MessageLimits{}).ok()) return nullptr;
  return core::parse_sip_message(bytes, from, length);
}

}  // namespace homesip::fuzz
