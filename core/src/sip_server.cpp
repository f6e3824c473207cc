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

#include "message_limits.hpp"
#include "response_encoder.hpp"
#include "sip_message.hpp"

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

// Whether a header named `name` (or its compact form) is among those sofia could not parse.
bool present_but_bad(const sip_t* sip, std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kCompact[] = {
      {"From", "f"}, {"To", "t"}, {"Call-ID", "i"}, {"CSeq", "CSeq"}};
  std::string_view compact = name;
  for (const auto& [full, short_form] : kCompact)
    if (full == name) compact = short_form;
  for (const sip_error_t* error = sip->sip_error; error; error = error->er_next) {
    const std::string bad = bad_header_name(error);
    if (su_casenmatch(bad.c_str(), name.data(), name.size()) && bad.size() == name.size()) return true;
    if (su_casenmatch(bad.c_str(), compact.data(), compact.size()) && bad.size() == compact.size()) return true;
  }
  return false;
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
  SofiaRequest(msg_t* msg, sip_t* sip, std::string_view transport) : msg_(msg), sip_(sip), transport_(transport) {}

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
    src.transport = transport_;
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
  std::string_view transport_;
};

class SofiaDeferredReply final : public DeferredReply {
 public:
  SofiaDeferredReply(SipServer& server, msg_t* msg, sip_t* sip, std::shared_ptr<ResponseChannel> channel)
      : server_(server), msg_(msg), channel_(std::move(channel)), request_(msg, sip, channel_->transport()) {}
  ~SofiaDeferredReply() override {
    if (msg_) send(Reply(500, "Request Dropped"));
    server_.deferred_done();
  }
  const SipRequest& request() const override { return request_; }
  void send(const Reply& reply) override {
    if (!msg_) return;
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.send_reply(msg, reply, *channel_);
  }

 private:
  SipServer& server_;
  msg_t* msg_;
  std::shared_ptr<ResponseChannel> channel_;
  SofiaRequest request_;
};

}  // namespace

class SofiaIncomingRequest final : public IncomingRequest {
 public:
  SofiaIncomingRequest(SipServer& server, msg_t* msg, sip_t* sip, const std::shared_ptr<ResponseChannel>& channel)
      : server_(server), msg_(msg), sip_(sip), channel_(channel), request_(msg, sip, channel->transport()) {}
  const SipRequest& request() const override { return request_; }
  void reply(const Reply& reply) override {
    if (!msg_) return;
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.send_reply(msg, reply, *channel_);
  }
  std::unique_ptr<DeferredReply> defer() override {
    if (!msg_) return nullptr;
    ++server_.deferred_;
    // The deferred reply takes the message and the channel; it keeps this view's pointers valid.
    auto deferred = std::make_unique<SofiaDeferredReply>(server_, msg_, sip_, channel_);
    msg_ = nullptr;
    return deferred;
  }
  bool answered() const { return msg_ == nullptr; }

 private:
  SipServer& server_;
  msg_t* msg_;
  sip_t* sip_;
  const std::shared_ptr<ResponseChannel>& channel_;
  SofiaRequest request_;
};

SipServer::SipServer(SofiaEventLoop& loop, const ServerConfig& config, std::shared_ptr<spdlog::logger> log)
    : loop_(loop), config_(config), log_(log), limit_log_(log) {}

SipServer::~SipServer() { stop(); }

void SipServer::start() {
  const auto buffer = static_cast<int>(config_.udp_buffer_bytes);
  for (const auto& address : config_.listen) {
    if (address.transport == "udp") {
      udp_.push_back(std::make_shared<UdpTransport>(
          loop_.root(), address, buffer,
          [this](std::string_view bytes, const su_sockaddr_t& from, socklen_t length, UdpTransport& udp) {
            receive(bytes, from, length, udp.shared_from_this(), false);
          }));
    } else {
      streams_.push_back(std::make_unique<StreamTransport>(
          loop_, address, config_.connections, config_.tls_certificates, limit_log_,
          [this](std::string_view bytes, const su_sockaddr_t& from, socklen_t length,
                 const std::shared_ptr<ResponseChannel>& connection, bool too_large) {
            return receive(bytes, from, length, connection, too_large);
          }));
    }
    log_->info("listening on {}", address.text());
  }
  if (!streams_.empty())
    log_->info("TCP/TLS: at most {} connections, idle timeout {} s, message timeout {} s",
               config_.connections.max_connections, config_.connections.idle_timeout.count(),
               config_.connections.message_timeout.count());
  start_nta();
  if (!udp_.empty()) loop_.set_before_wait([this] { flush_udp(); });
  listening_ = true;
}

// nta sends the core's own requests (upward registration) from an ephemeral
// UDP port on the first listener's address; responses to them come back
// there. Requests that arrive there are not served (see on_message).
void SipServer::start_nta() {
  ListenAddress client = config_.listen.front();
  client.transport = "udp";
  client.port = 0;
  const bool v6 = client.host.find(':') != std::string::npos;
  const std::string url = "sip:" + (v6 ? "[" + client.host + "]" : client.host) + ":0;transport=udp";
  const auto buffer = static_cast<unsigned>(config_.udp_buffer_bytes);
  agent_ = nta_agent_create(loop_.root(), URL_STRING_MAKE(url.c_str()),
                            reinterpret_cast<nta_message_f*>(&SipServer::on_message),
                            reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_STATELESS(1), NTATAG_UA(0),
                            TPTAG_UDP_RMEM(buffer), TPTAG_UDP_WMEM(buffer), TAG_END());
  if (!agent_) throw std::runtime_error("cannot open the client port on " + client.host + ": " + std::strerror(errno));
}

void SipServer::stop() {
  if (!listening_) return;
  listening_ = false;
  loop_.set_before_wait(nullptr);
  for (auto& udp : udp_) udp->close();
  for (auto& stream : streams_) stream->close();
  if (agent_) nta_agent_destroy(agent_);
  agent_ = nullptr;
}

void SipServer::flush_udp() {
  for (auto& udp : udp_) udp->flush();
}

// A request on nta's client port: nobody is told to send requests there.
int SipServer::on_message(void* self, nta_agent_s* agent, msg_s* msg, sip_s*) {
  (void)self;
  nta_msg_discard(agent, msg);
  return 0;
}

SipServer::Next SipServer::receive(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                   const std::shared_ptr<ResponseChannel>& channel, bool too_large) {
  const LimitVerdict verdict =
      too_large ? LimitVerdict{513, "Message Too Large", "max_message_bytes"} : check_message(bytes, config_.limits);
  if (!verdict.ok()) {
    reject_over_limit(bytes, from, from_length, channel, verdict);
    return too_large ? Next::kClose : Next::kContinue;
  }
  msg_t* msg = parse_sip_message(bytes, from, from_length);
  if (!msg) return Next::kClose;
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request) {  // a response or garbage: no transaction of ours waits for it
    msg_destroy(msg);
    return channel->transport() == "udp" ? Next::kContinue : Next::kClose;
  }
  const bool ack = sip->sip_request->rq_method == sip_method_ack;
  if (msg_get_flags(msg, MSG_FLG_ERROR)) {
    if (sip->sip_via && !ack)
      send_reply(msg, Reply(400, "Bad Request"), *channel);
    else
      msg_destroy(msg);
    return Next::kClose;  // a stream whose message sofia could not read cannot be trusted further
  }
  if (!su_casematch(sip->sip_request->rq_version, sip_version_2_0)) {
    if (sip->sip_via && !ack)
      send_reply(msg, Reply(505, "Version Not Supported"), *channel);
    else
      msg_destroy(msg);
    return Next::kContinue;
  }
  // A datagram whose Via says it came by another transport cannot be answered
  // by UDP; on a stream the answer goes back on the connection (RFC 3261 18.2.2).
  if (channel->transport() == "udp" && sip->sip_via && !su_casematch(sip->sip_via->v_protocol, sip_transport_udp)) {
    msg_destroy(msg);
    return Next::kContinue;
  }
  handle(msg, sip, channel);
  return Next::kContinue;
}

void SipServer::reject_over_limit(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                  const std::shared_ptr<ResponseChannel>& channel, const LimitVerdict& verdict) {
  char ip[46];
  limit_log_.hit("server.limits." + std::string(verdict.limit),
                 std::string(verdict.reason) + " from " + std::string(address_text(from, ip)) + " over " +
                     std::string(channel->transport()));
  const std::string skeleton = reply_skeleton(bytes, config_.limits);
  msg_t* msg = parse_sip_message(skeleton, from, from_length);
  if (!msg) return;
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request || !sip->sip_via || sip->sip_request->rq_method == sip_method_ack) {
    msg_destroy(msg);  // nowhere to answer, or an ACK, which is never answered
    return;
  }
  send_reply(msg, Reply(verdict.status, verdict.reason), *channel);
}

bool SipServer::well_formed(msg_t* msg, sip_t* sip, ResponseChannel& channel) {
  if (!sip || !sip->sip_request || !sip->sip_via) {
    msg_destroy(msg);  // no Via: nowhere to answer
    return false;
  }
  const char* missing = !sip->sip_from      ? "From"
                        : !sip->sip_to      ? "To"
                        : !sip->sip_call_id ? "Call-ID"
                        : !sip->sip_cseq    ? "CSeq"
                                            : nullptr;
  if (missing) {
    // A CSeq above 2^32-1 (RFC 4475 scalar02) is there but unparsable: say so.
    const char* what = present_but_bad(sip, missing) ? "Bad " : "Missing ";
    return reject(msg, sip, Reply(400, std::string(what) + missing + " Header"), channel);
  }
  if (sip->sip_cseq->cs_method != sip->sip_request->rq_method ||
      (sip->sip_request->rq_method == sip_method_unknown &&
       !su_strmatch(sip->sip_cseq->cs_method_name, sip->sip_request->rq_method_name)))
    return reject(msg, sip, Reply(400, "CSeq Method Does Not Match"), channel);
  // A header sofia could not parse.
  if (sip->sip_error) {
    const std::string name = bad_header_name(sip->sip_error);
    return reject(msg, sip, Reply(400, name.empty() ? "Bad Header" : "Bad Header " + name), channel);
  }
  // The rest of sofia's sanity check: a Request-URI that is no URI (RFC 4475
  // 3.1.2.11 wants 400 for "<sip:...>"), or a sip: one without host.
  if (sip_sanity_check(sip) < 0) return reject(msg, sip, Reply(400, "Bad Request-URI"), channel);
  // RFC 3261 8.2.2.1: a Request-URI of a scheme we cannot serve is refused
  // before any handler reads it as if it were sip:.
  const url_t* target = sip->sip_request->rq_url;
  if (!target || (target->url_type != url_sip && target->url_type != url_sips))
    return reject(msg, sip, Reply(416, "Unsupported URI Scheme"), channel);
  return true;
}

bool SipServer::reject(msg_t* msg, sip_t* sip, const Reply& reply, ResponseChannel& channel) {
  if (sip->sip_request->rq_method == sip_method_ack)
    msg_destroy(msg);  // an ACK is never answered
  else
    send_reply(msg, reply, channel);
  return false;
}

void SipServer::handle(msg_t* msg, sip_t* sip, const std::shared_ptr<ResponseChannel>& channel) {
  if (!well_formed(msg, sip, *channel)) return;
  const auto method = sip->sip_request->rq_method;
  if (method == sip_method_ack) {  // ACK to our stateless final answer
    msg_destroy(msg);
    return;
  }
  SofiaIncomingRequest incoming(*this, msg, sip, channel);
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

void SipServer::send_reply(msg_t* msg, const Reply& reply, ResponseChannel& channel) {
  // Listeners closed, or the connection gone while a handler waited: nothing can be sent.
  if (listening_ && !channel.closed()) {
    const sip_t* sip = sip_object(msg);
    su_sockaddr_t source{};
    socklen_t length = sizeof source;
    msg_get_address(msg, &source, &length);
    if (sip && sip->sip_via) channel.send_response(*sip, source, reply);
  }
  msg_destroy(msg);
}

}  // namespace homesip::core
