// The SDK's views of messages parsed by sofia-sip: every accessor reads the
// parsed message in place. Header values are views of the raw line sofia kept
// (the message is parsed with MSG_FLG_EXTRACT_COPY); only a header sofia did
// not read whole is encoded, once per call, into the message's own home.
// Requests and responses share one implementation of SipMessage's accessors
// (SofiaMessage). Also what the request fuzzer drives.
#pragma once

#include <sofia-sip/sip.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/request.hpp"

namespace homesip::core {

// SipMessage's accessors over a sofia message, for SipRequest and SipResponse
// alike (Interface is one of them). `sip` may be null (a response the core
// made without one): every accessor then answers "absent".
template <class Interface>
class SofiaMessage : public Interface {
 public:
  SofiaMessage(msg_t* msg, const sip_t* sip) : msg_(msg), sip_(sip) {}

  UriView from_uri() const override;
  UriView to_uri() const override;
  std::string_view from_tag() const override;
  std::string_view to_tag() const override;
  std::string_view call_id() const override;
  uint32_t cseq() const override;
  std::optional<uint32_t> expires_header() const override;
  bool expires_header_invalid() const override;
  std::vector<ContactView> contacts() const override;
  std::string_view content_type() const override;
  std::string_view body() const override;
  std::optional<std::string_view> header(std::string_view name) const override;
  std::vector<std::string_view> headers(std::string_view name) const override;

 protected:
  msg_t* msg_;
  const sip_t* sip_;
};

extern template class SofiaMessage<SipRequest>;
extern template class SofiaMessage<SipResponse>;

class SofiaRequest final : public SofiaMessage<SipRequest> {
 public:
  // `transport`: "udp", "tcp" or "tls", the channel the request came in on.
  // `routed_here`: the core took a Route naming this server off its top.
  // `certificate_names`: the TLS connection's verified client certificate's.
  SofiaRequest(msg_t* msg, const sip_t* sip, std::string_view transport, bool routed_here = false,
               std::shared_ptr<const std::vector<std::string>> certificate_names = nullptr)
      : SofiaMessage(msg, sip),
        transport_(transport),
        routed_here_(routed_here),
        certificate_names_(std::move(certificate_names)) {}

  Method method() const override;
  std::string_view method_name() const override;
  UriView request_uri() const override;
  uint32_t max_forwards() const override;
  std::vector<ViaView> vias() const override;
  std::string_view event() const override;
  std::string_view user_agent() const override;
  SourceAddress source() const override;
  bool routed_here() const override { return routed_here_; }
  std::vector<std::string> peer_certificate_names() const override;
  std::string flow() const override { return flow_; }
  // The flow a Route of ours named (its token checked): see flow_token.hpp.
  void set_flow(std::string flow) { flow_ = std::move(flow); }

 private:
  std::string_view transport_;
  bool routed_here_;
  std::shared_ptr<const std::vector<std::string>> certificate_names_;
  std::string flow_;
};

// A sofia URL as the SDK's view (its strings stay sofia's).
UriView uri_view(const url_t* url);

// A response a client transaction received, or one the core made (`local`:
// 408 on timeout, 503 when the request could not be sent).
class SofiaResponse final : public SofiaMessage<SipResponse> {
 public:
  SofiaResponse(msg_t* msg, const sip_t* sip, bool local) : SofiaMessage(msg, sip), local_(local) {}

  int status() const override;
  std::string_view reason() const override;
  bool local() const override { return local_; }

 private:
  bool local_;
};

}  // namespace homesip::core
