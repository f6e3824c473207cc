// The reply a handler gives. The core fills Via, From, To (with a tag),
// Call-ID, CSeq and Content-Length from the request.
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
  std::string body;

  Reply() = default;
  explicit Reply(int code, std::string phrase = {}) : status(code), reason(std::move(phrase)) {}
  Reply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace homesip
