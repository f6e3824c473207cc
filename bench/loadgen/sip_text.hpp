// The little SIP a REGISTER load needs: the request written as text, and what is read from a
// response (status, Call-ID, CSeq number, the WWW-Authenticate challenges). Views point into the
// datagram.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip::loadgen {

struct RegisterRequest {
  std::string_view domain;  // Request-URI sip:DOMAIN, AOR USER@DOMAIN
  std::string_view user;
  std::string_view local_address;  // Via and Contact host:port
  std::string_view call_id;
  std::string_view tag;
  uint32_t cseq = 1;
  int expires = 3600;
  std::string_view authorization;  // "" for none
};
std::string register_text(const RegisterRequest& request);

struct Response {
  int status = 0;
  std::string_view call_id;
  uint32_t cseq = 0;
  std::vector<std::string_view> challenges;  // WWW-Authenticate values, in order
};
// nullopt when the datagram is not a SIP response.
std::optional<Response> parse_response(std::string_view datagram);

}  // namespace homesip::loadgen
