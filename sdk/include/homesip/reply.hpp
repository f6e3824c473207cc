// The reply a handler gives. The core's one reply writer fills Via, From, To
// (with the To-tag), Call-ID, CSeq and Content-Length from the request, and
// sanitises the reason and header values (no CR, LF or NUL reach the wire).
//
// Layout frozen for SDK 2.x: anything a later minor adds goes into `headers`
// or behind a new interface, never into a new field here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace homesip {

struct ReplyContact {
  std::string uri;
  std::optional<uint32_t> expires;   // adds ;expires=N
  std::optional<uint16_t> q_millis;  // adds ;q=0.N
};

struct Reply {
  int status = 500;
  std::string reason;  // empty: the standard phrase for the status
  std::vector<ReplyContact> contacts;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, name -> value
  std::string content_type;
  std::string body;  // any octets
  // The To-tag to send (a dialog this plugin keeps, e.g. a subscription).
  // Empty: the request's own To-tag if it has one, else the core's tag for
  // this request, which is the same for every retransmission of it
  // (IncomingRequest::reply_to_tag() tells it in advance).
  std::string to_tag;

  Reply() = default;
  explicit Reply(int code, std::string phrase = {}) : status(code), reason(std::move(phrase)) {}
  Reply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace homesip
