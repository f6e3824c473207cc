// The SDK's view of a request parsed by sofia-sip: every accessor reads the
// parsed message in place (no copies). Also what the request fuzzer drives.
#pragma once

#include <sofia-sip/sip.h>

#include <string_view>

#include "homesip/request.hpp"

namespace homesip::core {

class SofiaRequest final : public SipRequest {
 public:
  // `transport`: "udp", "tcp" or "tls", the channel the request came in on.
  SofiaRequest(msg_t* msg, sip_t* sip, std::string_view transport)
      : msg_(msg), sip_(sip), transport_(transport) {}

  Method method() const override;
  std::string_view method_name() const override;
  UriView request_uri() const override;
  UriView from_uri() const override;
  UriView to_uri() const override;
  std::string_view call_id() const override;
  uint32_t cseq() const override;
  std::optional<uint32_t> expires_header() const override;
  bool expires_header_invalid() const override;
  uint32_t max_forwards() const override;
  std::vector<ContactView> contacts() const override;
  SourceAddress source() const override;
  std::string_view user_agent() const override;
  std::string_view content_type() const override;
  std::string_view body() const override;
  std::optional<std::string> header(std::string_view name) const override;

 private:
  msg_t* msg_;
  sip_t* sip_;
  std::string_view transport_;
};

}  // namespace homesip::core
