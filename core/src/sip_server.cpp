#include "sip_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/tport_tag.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>

#include "response_encoder.hpp"

namespace homesip::core {
namespace {

std::string_view sv(const char* s) { return s ? std::string_view(s) : std::string_view(); }

// The name of a header sofia could not parse, read from its raw bytes, or ""
// when they hold no token. Not er_name: sofia files some bad headers under
// sip_error still as objects of their own class (a second Max-Forwards stays a
// Max-Forwards, whose count 70 then reads as the pointer 0x46).
std::string bad_header_name(const sip_error_t* error) {
  const auto* data = static_cast<const char*>(error->er_common->h_data);
  const size_t length = data ? std::min<size_t>(error->er_common->h_len, 64) : 0;
  std::string name;
  for (size_t i = 0; i < length; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
    if (!std::isalnum(c) && !std::strchr("-.!%*_+`'~", c)) return "";
    name += static_cast<char>(c);
  }
  return name;
}

// Parsed once: given as a string, sofia would parse it again for every reply.
const sip_server_t* server_header() {
  static su_home_t* const home = static_cast<su_home_t*>(su_home_new(sizeof(su_home_t)));
  static const sip_server_t* const header = sip_server_make(home, kServerProduct);
  return header;
}

UriView view_of(const url_t* url) {
  UriView v;
  if (!url) return v;
  v.scheme = sv(url->url_scheme);
  v.user = sv(url->url_user);
  v.host = sv(url->url_host);
  v.port = sv(url->url_port);
  v.params = sv(url->url_params);
  return v;
}

std::optional<uint32_t> parse_u32(std::string_view text) {
  uint32_t v = 0;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) return UINT32_MAX;
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// "0.5" -> 500, "1" -> 1000; nullopt when not a valid qvalue (RFC 3261 25.1).
std::optional<uint16_t> parse_q(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  unsigned whole = static_cast<unsigned>(text[0] - '0');
  unsigned millis = 0, digits = 0;
  if (text.size() > 1) {
    if (text[1] != '.' || text.size() > 5) return std::nullopt;
    for (size_t i = 2; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      millis = millis * 10 + static_cast<unsigned>(text[i] - '0');
      ++digits;
    }
    while (digits++ < 3) millis *= 10;
  }
  const unsigned q = whole * 1000 + millis;
  if (q > 1000) return std::nullopt;
  return static_cast<uint16_t>(q);
}

std::string url_text(const url_t* url) {
  char buffer[512];
  const auto n = url_e(buffer, sizeof buffer, url);
  if (n >= 0 && static_cast<size_t>(n) < sizeof buffer) return std::string(buffer, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  url_e(big.data(), big.size(), url);
  big.resize(static_cast<size_t>(n));
  return big;
}

Method method_of(sip_method_t m) {
  switch (m) {
    case sip_method_invite:
      return Method::kInvite;
    case sip_method_ack:
      return Method::kAck;
    case sip_method_bye:
      return Method::kBye;
    case sip_method_cancel:
      return Method::kCancel;
    case sip_method_register:
      return Method::kRegister;
    case sip_method_options:
      return Method::kOptions;
    case sip_method_message:
      return Method::kMessage;
    case sip_method_subscribe:
      return Method::kSubscribe;
    case sip_method_notify:
      return Method::kNotify;
    case sip_method_publish:
      return Method::kPublish;
    case sip_method_info:
      return Method::kInfo;
    case sip_method_refer:
      return Method::kRefer;
    case sip_method_update:
      return Method::kUpdate;
    case sip_method_prack:
      return Method::kPrack;
    default:
      return Method::kUnknown;
  }
}

// The parsed request, viewed through the SDK. Holds no copies.
class SofiaRequest final : public SipRequest {
 public:
  SofiaRequest(msg_t* msg, sip_t* sip) : msg_(msg), sip_(sip) {}

  Method method() const override { return method_of(sip_->sip_request->rq_method); }
  std::string_view method_name() const override { return sv(sip_->sip_request->rq_method_name); }
  UriView request_uri() const override { return view_of(sip_->sip_request->rq_url); }
  UriView from_uri() const override { return view_of(sip_->sip_from ? sip_->sip_from->a_url : nullptr); }
  UriView to_uri() const override { return view_of(sip_->sip_to ? sip_->sip_to->a_url : nullptr); }
  std::string_view call_id() const override {
    return sv(sip_->sip_call_id ? sip_->sip_call_id->i_id : nullptr);
  }
  uint32_t cseq() const override { return sip_->sip_cseq ? sip_->sip_cseq->cs_seq : 0; }
  std::optional<uint32_t> expires_header() const override {
    if (!sip_->sip_expires || expires_header_invalid()) return std::nullopt;
    return static_cast<uint32_t>(sip_->sip_expires->ex_delta);
  }
  bool expires_header_invalid() const override {
    // sofia parses a bad Expires as an error header and leaves sip_expires
    // unset; an HTTP-date Expires (RFC 2543) is also not accepted by RFC 3261.
    return sip_->sip_expires && sip_->sip_expires->ex_date != 0;
  }
  uint32_t max_forwards() const override {
    return sip_->sip_max_forwards ? static_cast<uint32_t>(sip_->sip_max_forwards->mf_count) : 70;
  }
  std::vector<ContactView> contacts() const override {
    std::vector<ContactView> out;
    for (const sip_contact_t* m = sip_->sip_contact; m; m = m->m_next) {
      ContactView c;
      if (m->m_url->url_type == url_any) {
        c.wildcard = true;
        out.push_back(std::move(c));
        continue;
      }
      c.uri = url_text(m->m_url);
      if (m->m_expires) {
        c.expires = parse_u32(m->m_expires);
        c.expires_invalid = !c.expires.has_value();
      }
      if (m->m_q) c.q_millis = parse_q(m->m_q);
      c.instance = sv(msg_params_find(m->m_params, "+sip.instance="));
      out.push_back(std::move(c));
    }
    return out;
  }
  SourceAddress source() const override {
    SourceAddress src;
    su_sockaddr_t addr{};
    socklen_t len = sizeof addr;
    if (msg_get_address(msg_, &addr, &len) == 0) {
      char text[46];
      src.ip = address_text(addr, text);
      src.port = ntohs(addr.su_port);
    }
    src.transport = "udp";
    if (sip_->sip_via && sip_->sip_via->v_protocol) {
      const char* p = sip_->sip_via->v_protocol;
      if (su_casematch(p, sip_transport_tcp))
        src.transport = "tcp";
      else if (su_casematch(p, sip_transport_tls))
        src.transport = "tls";
    }
    return src;
  }
  std::string_view user_agent() const override {
    return sv(sip_->sip_user_agent ? sip_->sip_user_agent->g_string : nullptr);
  }
  std::string_view content_type() const override {
    return sv(sip_->sip_content_type ? sip_->sip_content_type->c_type : nullptr);
  }
  std::string_view body() const override {
    if (!sip_->sip_payload) return {};
    return {sip_->sip_payload->pl_data, sip_->sip_payload->pl_len};
  }
  std::optional<std::string> header(std::string_view name) const override {
    const std::string key(name);
    const msg_mclass_t* mc = msg_mclass(msg_);
    const msg_href_t* href = msg_find_hclass(mc, key.c_str(), nullptr);
    if (href && href != mc->mc_unknown) {
      auto* slot =
          reinterpret_cast<msg_header_t* const*>(reinterpret_cast<const char*>(sip_) + href->hr_offset);
      if (!*slot) return std::nullopt;
      char buffer[1024];
      const auto n = msg_header_field_e(buffer, sizeof buffer, *slot, 0);
      if (n < 0) return std::nullopt;
      return std::string(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1));
    }
    for (const sip_unknown_t* u = sip_->sip_unknown; u; u = u->un_next)
      if (su_casematch(u->un_name, key.c_str())) return std::string(sv(u->un_value));
    return std::nullopt;
  }

 private:
  msg_t* msg_;
  sip_t* sip_;
};

class SofiaDeferredReply final : public DeferredReply {
 public:
  SofiaDeferredReply(SipServer& server, msg_t* msg, sip_t* sip, UdpTransport* udp)
      : server_(server), msg_(msg), udp_(udp), request_(msg, sip) {}
  ~SofiaDeferredReply() override {
    if (msg_) send(Reply(500, "Request Dropped"));
    server_.deferred_done();
  }
  const SipRequest& request() const override { return request_; }
  void send(const Reply& reply) override {
    if (!msg_) return;
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.send_reply(msg, reply, udp_);
  }

 private:
  SipServer& server_;
  msg_t* msg_;
  UdpTransport* udp_;
  SofiaRequest request_;
};

}  // namespace

class SofiaIncomingRequest final : public IncomingRequest {
 public:
  SofiaIncomingRequest(SipServer& server, msg_t* msg, sip_t* sip, UdpTransport* udp)
      : server_(server), msg_(msg), sip_(sip), udp_(udp), request_(msg, sip) {}
  const SipRequest& request() const override { return request_; }
  void reply(const Reply& reply) override {
    if (!msg_) return;
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.send_reply(msg, reply, udp_);
  }
  std::unique_ptr<DeferredReply> defer() override {
    if (!msg_) return nullptr;
    ++server_.deferred_;
    // The deferred reply takes the message; it keeps this view's pointers valid.
    auto deferred = std::make_unique<SofiaDeferredReply>(server_, msg_, sip_, udp_);
    msg_ = nullptr;
    return deferred;
  }
  bool answered() const { return msg_ == nullptr; }

 private:
  SipServer& server_;
  msg_t* msg_;
  sip_t* sip_;
  UdpTransport* udp_;
  SofiaRequest request_;
};

SipServer::SipServer(SofiaEventLoop& loop, const ServerConfig& config, std::shared_ptr<spdlog::logger> log)
    : loop_(loop), config_(config), log_(std::move(log)) {}

SipServer::~SipServer() { stop(); }

namespace {
std::string sofia_url(const ListenAddress& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + a.host + "]" : a.host;
  if (a.transport == "tls") return "sips:" + host + ":" + std::to_string(a.port);
  return "sip:" + host + ":" + std::to_string(a.port) + ";transport=" + a.transport;
}
}  // namespace

void SipServer::start() {
  const auto buffer = static_cast<int>(config_.udp_buffer_bytes);
  std::vector<ListenAddress> for_nta;
  for (const auto& address : config_.listen) {
    if (address.transport != "udp") {
      for_nta.push_back(address);
      continue;
    }
    udp_.push_back(std::make_unique<UdpTransport>(
        loop_.root(), address, buffer,
        [this](msg_t* msg, UdpTransport& udp) { receive_datagram(msg, udp); }));
    log_->info("listening on {}", address.text());
  }
  // nta keeps TCP and TLS, and sends the core's own requests (upward
  // registration). For UDP it gets a port of its own next to the first UDP
  // listener; responses to its requests come back there.
  if (!udp_.empty()) {
    ListenAddress client = udp_.front()->address();
    client.port = 0;
    for_nta.insert(for_nta.begin(), client);
  }
  start_nta(for_nta);
  if (!udp_.empty()) loop_.set_before_wait([this] { flush_udp(); });
  listening_ = true;
}

void SipServer::start_nta(const std::vector<ListenAddress>& listeners) {
  const auto buffer = static_cast<unsigned>(config_.udp_buffer_bytes);
  const char* certs = config_.tls_certificates.empty() ? nullptr : config_.tls_certificates.c_str();
  for (const auto& address : listeners) {
    const std::string url = sofia_url(address);
    if (!agent_) {
      agent_ = nta_agent_create(loop_.root(), URL_STRING_MAKE(url.c_str()),
                                reinterpret_cast<nta_message_f*>(&SipServer::on_message),
                                reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_STATELESS(1),
                                NTATAG_SERVER_RPORT(1), NTATAG_UA(0), TPTAG_UDP_RMEM(buffer),
                                TPTAG_UDP_WMEM(buffer), TAG_IF(certs, TPTAG_CERTIFICATE(certs)), TAG_END());
      if (!agent_)
        throw std::runtime_error("cannot listen on " + address.text() + ": " + std::strerror(errno));
    } else if (nta_agent_add_tport(agent_, URL_STRING_MAKE(url.c_str()), TPTAG_UDP_RMEM(buffer),
                                   TPTAG_UDP_WMEM(buffer), TAG_IF(certs, TPTAG_CERTIFICATE(certs)),
                                   TAG_END()) < 0) {
      throw std::runtime_error("cannot listen on " + address.text() + ": " + std::strerror(errno));
    }
    if (address.port != 0) log_->info("listening on {}", address.text());
  }
}

void SipServer::stop() {
  if (!listening_) return;
  listening_ = false;
  loop_.set_before_wait(nullptr);
  for (auto& udp : udp_) udp->close();
  if (agent_) nta_agent_destroy(agent_);
  agent_ = nullptr;
}

void SipServer::flush_udp() {
  for (auto& udp : udp_) udp->flush();
}

int SipServer::on_message(void* self, nta_agent_s*, msg_s* msg, sip_s* sip) {
  static_cast<SipServer*>(self)->handle(msg, sip, nullptr);
  return 0;
}

// nta's checks before its message callback (agent_recv_request), for the
// datagrams the core reads itself.
void SipServer::receive_datagram(msg_t* msg, UdpTransport& udp) {
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request) {  // a response or garbage: no transaction of ours waits for it
    msg_destroy(msg);
    return;
  }
  const bool ack = sip->sip_request->rq_method == sip_method_ack;
  if (msg_get_flags(msg, MSG_FLG_ERROR)) {
    if (sip->sip_via && !ack)
      send_reply(msg, Reply(400, "Bad Request"), &udp);
    else
      msg_destroy(msg);
    return;
  }
  if (!su_casematch(sip->sip_request->rq_version, sip_version_2_0)) {
    if (sip->sip_via && !ack)
      send_reply(msg, Reply(505, "Version Not Supported"), &udp);
    else
      msg_destroy(msg);
    return;
  }
  // A Via that says it came by another transport cannot be answered on ours.
  if (sip->sip_via && !su_casematch(sip->sip_via->v_protocol, sip_transport_udp)) {
    msg_destroy(msg);
    return;
  }
  handle(msg, sip, &udp);
}

bool SipServer::well_formed(msg_t* msg, sip_t* sip, UdpTransport* udp) {
  if (!sip || !sip->sip_request || !sip->sip_via) {
    msg_destroy(msg);  // no Via: nowhere to answer
    return false;
  }
  const char* missing = !sip->sip_from      ? "From"
                        : !sip->sip_to      ? "To"
                        : !sip->sip_call_id ? "Call-ID"
                        : !sip->sip_cseq    ? "CSeq"
                                            : nullptr;
  if (missing) return reject(msg, sip, Reply(400, std::string("Missing ") + missing + " Header"), udp);
  if (sip->sip_cseq->cs_method != sip->sip_request->rq_method ||
      (sip->sip_request->rq_method == sip_method_unknown &&
       !su_strmatch(sip->sip_cseq->cs_method_name, sip->sip_request->rq_method_name)))
    return reject(msg, sip, Reply(400, "CSeq Method Does Not Match"), udp);
  // A header sofia could not parse.
  if (sip->sip_error) {
    const std::string name = bad_header_name(sip->sip_error);
    return reject(msg, sip, Reply(400, name.empty() ? "Bad Header" : "Bad Header " + name), udp);
  }
  // The rest of sofia's sanity check: a Request-URI that is no URI (RFC 4475
  // 3.1.2.11 wants 400 for "<sip:...>"), or a sip: one without host.
  if (sip_sanity_check(sip) < 0) return reject(msg, sip, Reply(400, "Bad Request-URI"), udp);
  // RFC 3261 8.2.2.1: a Request-URI of a scheme we cannot serve is refused
  // before any handler reads it as if it were sip:.
  const url_t* target = sip->sip_request->rq_url;
  if (!target || (target->url_type != url_sip && target->url_type != url_sips))
    return reject(msg, sip, Reply(416, "Unsupported URI Scheme"), udp);
  return true;
}

bool SipServer::reject(msg_t* msg, sip_t* sip, const Reply& reply, UdpTransport* udp) {
  if (sip->sip_request->rq_method == sip_method_ack)
    msg_destroy(msg);  // an ACK is never answered
  else
    send_reply(msg, reply, udp);
  return false;
}

void SipServer::handle(msg_t* msg, sip_t* sip, UdpTransport* udp) {
  if (!well_formed(msg, sip, udp)) return;
  const auto method = sip->sip_request->rq_method;
  if (method == sip_method_ack) {  // ACK to our stateless final answer
    msg_destroy(msg);
    return;
  }
  SofiaIncomingRequest incoming(*this, msg, sip, udp);
  try {
    for (RequestHandler* handler : handlers_) {
      if (handler->on_request(incoming) == Disposition::kHandled) break;
    }
  } catch (const std::exception& e) {
    log_->error("handler failed on {} from Call-ID {}: {}", sv(sip->sip_request->rq_method_name),
                sv(sip->sip_call_id->i_id), e.what());
    incoming.reply(Reply(500, "Server Internal Error"));
  }
  if (incoming.answered()) return;
  switch (method) {
    case sip_method_options: {
      Reply ok(200);
      ok.header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY");
      ok.header("Accept", "application/sdp, text/plain");
      incoming.reply(ok);
      break;
    }
    case sip_method_cancel:  // a stateless server has no transaction to cancel
      incoming.reply(Reply(481, "Call/Transaction Does Not Exist"));
      break;
    default:
      incoming.reply(Reply(501, "Not Implemented"));
  }
}

void SipServer::send_reply(msg_t* msg, const Reply& reply, UdpTransport* udp) {
  if (!listening_ || (udp && udp->closed())) {  // listeners closed: nothing can be sent
    msg_destroy(msg);
    return;
  }
  if (udp) {
    const sip_t* sip = sip_object(msg);
    if (!sip || !sip->sip_via) {  // nowhere to send it (the checks before the handlers drop these)
      msg_destroy(msg);
      return;
    }
    su_sockaddr_t source{};
    socklen_t length = sizeof source;
    msg_get_address(msg, &source, &length);
    encode_response(*sip, source, reply, udp->queue(response_destination(*sip->sip_via, source)));
    msg_destroy(msg);
    return;
  }
  std::string contacts;
  for (const auto& c : reply.contacts) {
    if (!contacts.empty()) contacts += ", ";
    append_contact_value(contacts, c);
  }
  std::string extra;
  for (const auto& [name, value] : reply.headers) {
    extra += name;
    extra += ": ";
    extra += value;
    extra += "\r\n";
  }
  const char* phrase = reply.reason.empty() ? sip_status_phrase(reply.status) : reply.reason.c_str();
  if (!phrase || !*phrase) phrase = "Unknown";
  nta_msg_treply(agent_, msg, reply.status, phrase, SIPTAG_SERVER(server_header()),
                 TAG_IF(!contacts.empty(), SIPTAG_CONTACT_STR(contacts.c_str())),
                 TAG_IF(!extra.empty(), SIPTAG_HEADER_STR(extra.c_str())),
                 TAG_IF(!reply.content_type.empty(), SIPTAG_CONTENT_TYPE_STR(reply.content_type.c_str())),
                 TAG_IF(!reply.body.empty(), SIPTAG_PAYLOAD_STR(reply.body.c_str())), TAG_END());
}

}  // namespace homesip::core
