// sofia-sip's parser as homesipd drives it (parse_sip_message), and every
// accessor of the SofiaRequest view the handlers read requests through.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "fuzz_sip.hpp"
#include "sofia_request.hpp"

namespace {

// Touches every byte of a view, so ASan sees a read past its end.
size_t touch(std::string_view text) {
  size_t sum = 0;
  for (char c : text) sum += static_cast<unsigned char>(c);
  return sum;
}

size_t touch(const homesip::UriView& uri) {
  return touch(uri.scheme) + touch(uri.user) + touch(uri.host) + touch(uri.port) + touch(uri.params) +
         (uri.empty() ? 1 : 0);
}

volatile size_t sink;

void read_all(const homesip::core::SofiaRequest& request) {
  size_t sum = static_cast<size_t>(request.method());
  sum += touch(request.method_name());
  sum += touch(request.request_uri());
  sum += touch(request.from_uri());
  sum += touch(request.to_uri());
  sum += touch(request.call_id());
  sum += request.cseq();
  if (const auto expires = request.expires_header()) sum += *expires;
  sum += request.expires_header_invalid();
  sum += request.max_forwards();
  for (const auto& contact : request.contacts()) {
    sum += contact.wildcard + contact.expires_invalid + touch(contact.uri) + touch(contact.instance);
    if (contact.expires) sum += *contact.expires;
    if (contact.q_millis) {
      FUZZ_CHECK(*contact.q_millis <= 1000, "q of %u", static_cast<unsigned>(*contact.q_millis));
      sum += *contact.q_millis;
    }
  }
  const auto source = request.source();
  sum += touch(source.transport) + touch(source.ip) + source.port;
  sum += touch(request.user_agent());
  sum += touch(request.content_type());
  sum += touch(request.body());
  for (const char* name : {"Via",
                           "via",
                           "v",
                           "From",
                           "To",
                           "Call-ID",
                           "CSeq",
                           "Contact",
                           "Route",
                           "Record-Route",
                           "Expires",
                           "Max-Forwards",
                           "Content-Length",
                           "Content-Type",
                           "Supported",
                           "Require",
                           "Authorization",
                           "X-Unknown",
                           "",
                           ":"}) {
    if (const auto value = request.header(name)) sum += touch(*value);
    for (std::string_view line : request.headers(name)) sum += touch(line);
  }
  for (const char* name : {"m", "f", "t", "i", "o", "Event", "Route", "Authorization"})
    for (std::string_view line : request.headers(name)) sum += touch(line);
  for (const auto& via : request.vias())
    sum += touch(via.transport) + touch(via.host) + touch(via.port) + touch(via.branch) +
           touch(via.received) + touch(via.rport);
  sum += touch(request.from_tag()) + touch(request.to_tag()) + touch(request.event());
  sink = sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  socklen_t length = 0;
  const su_sockaddr_t from = homesip::fuzz::source_address(size % 2 == 1, length);
  msg_t* msg = homesip::fuzz::parse_within_limits(bytes, from, length);
  if (!msg) return 0;
  sip_t* sip = sip_object(msg);
  if (sip && sip->sip_request) {
    // Also the messages the server refuses before any handler sees them
    // (missing From, errors): the view must not depend on those checks.
    const homesip::core::SofiaRequest request(msg, sip, size % 3 == 0 ? "tcp" : "udp");
    read_all(request);
  }
  msg_destroy(msg);
  return 0;
}
