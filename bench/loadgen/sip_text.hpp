// The little SIP a load needs: a request written as text (REGISTER, INVITE, the ACK of a non-2xx
// final response), what is read from a response (status, top Via branch, Call-ID, CSeq, To tag, the
// WWW-Authenticate challenges, Retry-After, the first Contact's host:port), and the bare responder's minimal
// 200. Views point into the datagram.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip::loadgen {

struct Request {
  std::string_view method;           // REGISTER, INVITE or ACK
  std::string_view domain;           // REGISTER: Request-URI sip:DOMAIN; INVITE/ACK: sip:USER@DOMAIN
  std::string_view user;             // REGISTER: the AOR's user; INVITE/ACK: the callee
  std::string_view caller;           // INVITE/ACK: the From user (REGISTER: From is the AOR)
  std::string_view local_address;    // Via host:port (and Contact's unless contact_address is set)
  std::string_view contact_address;  // Contact host:port when it differs from the Via's
  std::string_view call_id;
  std::string_view from_tag;
  std::string_view to_tag;  // ACK: the tag of the final response it acknowledges
  std::string_view branch;  // without the magic cookie; an ACK of a non-2xx repeats the INVITE's
  uint32_t cseq = 1;
  int expires = 3600;                  // REGISTER only
  std::string_view authorization;      // "" for none
  std::string_view transport = "UDP";  // the Via's; "TCP" also marks the Contact ;transport=tcp
};
std::string request_text(const Request& request);

struct Response {
  int status = 0;
  std::string_view branch;  // of the top Via, with the magic cookie
  std::string_view call_id;
  uint32_t cseq = 0;
  std::string_view to_tag;
  std::vector<std::string_view> challenges;  // WWW-Authenticate values, in order
  int retry_after_s = -1;                    // Retry-After's seconds; -1 when absent
  std::string_view contact_host_port;        // of the first Contact's URI ("" when none): a 302's target
};
// nullopt when the datagram is not a SIP response.
std::optional<Response> parse_response(std::string_view datagram);

// The bare responder's answer to a request: "SIP/2.0 200 OK" with the request's Via, From, To (a
// tag added when it has none), Call-ID and CSeq, into `out`. False for an ACK or a datagram that is
// not a request: nothing to answer.
bool minimal_ok(std::string_view request, std::string& out);

}  // namespace homesip::loadgen
