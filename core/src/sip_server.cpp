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
#include "sofia_request.hpp"

namespace homesip::core {
namespace {

// The largest message nta's client port takes: far below what would make
// sofia's recursive list parser overflow the stack, far above a real request.
constexpr size_t kClientPortMaxMessage = 16384;

// Retry-After on the 503 a request still suspended at shutdown gets: about
// the time a restart takes.
constexpr uint32_t kShutdownRetryAfterSeconds = 5;

// Answers one request that came in on nta's client port: written by the one
// response encoder, then handed to nta as a finished message to send back on
// the transport the request came in on.
class NtaChannel final : public ResponseChannel {
 public:
  NtaChannel(nta_agent_t* agent, msg_t* request) : agent_(agent), request_(msg_ref_create(request)) {}
  ~NtaChannel() override {
    if (request_) msg_destroy(request_);
  }
  void send_response(const sip_s& request, const su_sockaddr_t& source, const Reply& reply) override {
    if (!request_) return;
    std::string bytes;
    encode_response(request, source, reply, bytes);
    msg_t* response = msg_make(sip_default_mclass(), 0, bytes.data(), static_cast<isize_t>(bytes.size()));
    msg_t* answered = request_;
    request_ = nullptr;  // nta_msg_mreply takes it, whatever happens
    if (!response) {
      msg_destroy(answered);
      return;
    }
    nta_msg_mreply(agent_, response, sip_object(response), reply.status, nullptr, answered, TAG_END());
  }
  bool closed() const override { return request_ == nullptr; }
  std::string_view transport() const override { return "udp"; }

 private:
  nta_agent_t* agent_;
  msg_t* request_;
};

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
    if (!is_token_char(static_cast<char>(c))) return "";
    name += static_cast<char>(c);
  }
  return name;
}

// Whether a header named `name` (or its compact form) is among those sofia could not parse.
bool has_whitespace(const url_t* url) {
  for (const char* part : {url->url_user, url->url_password, url->url_host, url->url_port})
    if (part && std::strpbrk(part, " \t\r\n")) return true;
  return false;
}

// "a, b" from every Require line's option tags.
std::string option_tags(const sip_require_t* require) {
  std::string tags;
  for (; require; require = require->k_next)
    for (const char* const* item = require->k_items; item && *item; ++item) {
      if (!tags.empty()) tags += ", ";
      tags += *item;
    }
  return tags;
}

bool present_but_bad(const sip_t* sip, std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kCompact[] = {
      {"From", "f"}, {"To", "t"}, {"Call-ID", "i"}, {"CSeq", "CSeq"}};
  std::string_view compact = name;
  for (const auto& [full, short_form] : kCompact)
    if (full == name) compact = short_form;
  for (const sip_error_t* error = sip->sip_error; error; error = error->er_next) {
    const std::string bad = bad_header_name(error);
    if (su_casenmatch(bad.c_str(), name.data(), name.size()) && bad.size() == name.size()) return true;
    if (su_casenmatch(bad.c_str(), compact.data(), compact.size()) && bad.size() == compact.size())
      return true;
  }
  return false;
}

// One request as the chain sees it: the sofia message (owned), its view, and
// the channel its answer goes back on. On the stack while the chain runs;
// detach() moves it to the heap when a handler suspends it.
class SofiaChainRequest final : public ChainRequest {
 public:
  SofiaChainRequest(SipServer& server, msg_t* msg, sip_t* sip,
                    const std::shared_ptr<ResponseChannel>& channel)
      : server_(server), msg_(msg), sip_(sip), channel_(&channel), view_(msg, sip, channel->transport()) {}
  ~SofiaChainRequest() override {
    if (msg_) msg_destroy(msg_);
  }
  const SipRequest& request() const override { return view_; }
  std::string_view reply_to_tag() const override {
    if (to_tag_.empty()) to_tag_ = response_to_tag(*sip_, to_tag_buffer_);
    return to_tag_;
  }
  void answer(const Reply& reply) override {
    if (!msg_) return;
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.send_reply(msg, reply, **channel_);
  }
  std::unique_ptr<ChainRequest> detach() override {
    auto detached = std::make_unique<SofiaChainRequest>(server_, msg_, sip_, *channel_);
    detached->kept_channel_ = *channel_;  // a connection closed meanwhile drops the late answer
    detached->channel_ = &detached->kept_channel_;
    msg_ = nullptr;
    return detached;
  }

 private:
  SipServer& server_;
  msg_t* msg_;
  sip_t* sip_;
  // The transport's shared_ptr while on the stack (no reference count paid
  // per request); a copy of its own once detached.
  const std::shared_ptr<ResponseChannel>* channel_;
  std::shared_ptr<ResponseChannel> kept_channel_;
  SofiaRequest view_;
  mutable char to_tag_buffer_[kToTagBufferSize];
  mutable std::string_view to_tag_;
};

}  // namespace

SipServer::SipServer(SofiaEventLoop& loop, const ServerConfig& config, std::shared_ptr<spdlog::logger> log)
    : loop_(loop), config_(config), log_(log), limit_log_(log), chain_(log) {}

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
                 const std::shared_ptr<ResponseChannel>& connection,
                 bool too_large) { return receive(bytes, from, length, connection, too_large); }));
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
// UDP port on the first listener's address, or over TCP/TLS connections it
// opens; responses to them come back there, and requests too when this
// server is behind NAT (see on_message).
void SipServer::start_nta() {
  ListenAddress client = config_.listen.front();
  client.transport = "udp";
  client.port = 0;
  const bool v6 = client.host.find(':') != std::string::npos;
  const std::string url = "sip:" + (v6 ? "[" + client.host + "]" : client.host) + ":0;transport=udp";
  const auto buffer = static_cast<unsigned>(config_.udp_buffer_bytes);
  agent_ = nta_agent_create(
      loop_.root(), URL_STRING_MAKE(url.c_str()), reinterpret_cast<nta_message_f*>(&SipServer::on_message),
      reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_STATELESS(1), NTATAG_UA(0), NTATAG_SERVER_RPORT(1),
      NTATAG_MAXSIZE(kClientPortMaxMessage), TPTAG_UDP_RMEM(buffer), TPTAG_UDP_WMEM(buffer), TAG_END());
  if (!agent_)
    throw std::runtime_error("cannot open the client port on " + client.host + ": " + std::strerror(errno));
  // Client-only TCP (and TLS) for a parent reached that way: TPTAG_SERVER(0)
  // opens no listening socket, so nothing reaches nta's parser but the
  // parent's answers on connections this server opened.
  const std::string host = v6 ? "[" + client.host + "]" : client.host;
  const std::string tcp = "sip:" + host + ":0;transport=tcp";
  if (nta_agent_add_tport(agent_, URL_STRING_MAKE(tcp.c_str()), TPTAG_SERVER(0), TAG_END()) < 0)
    log_->warn("no TCP for the server's own requests: {}", std::strerror(errno));
  if (!config_.tls_certificates.empty()) {
    const std::string tls = "sips:" + host + ":0";
    if (nta_agent_add_tport(agent_, URL_STRING_MAKE(tls.c_str()), TPTAG_SERVER(0),
                            TPTAG_CERTIFICATE(config_.tls_certificates.c_str()), TAG_END()) < 0)
      log_->warn("no TLS for the server's own requests: {}", std::strerror(errno));
  }
}

void SipServer::stop() {
  if (!listening_) return;
  chain_.answer_suspended(kShutdownRetryAfterSeconds);
  listening_ = false;
  loop_.set_before_wait(nullptr);
  for (auto& udp : udp_) udp->close();
  for (auto& stream : streams_) stream->close();
  if (agent_) nta_agent_destroy(agent_);
  agent_ = nullptr;
}

size_t SipServer::connection_count() const {
  size_t count = 0;
  for (const auto& stream : streams_) count += stream->connection_count();
  return count;
}

void SipServer::flush_udp() {
  for (auto& udp : udp_) udp->flush();
}

// A request on nta's client port: a server behind NAT is reached there,
// since that is the source its parent saw (docs/management-network.md). It
// is served like any other request; nta parsed it (NTATAG_MAXSIZE keeps it
// small enough for sofia's recursive list parser).
int SipServer::on_message(void* self, nta_agent_s* agent, msg_s* msg, sip_s* sip) {
  auto* server = static_cast<SipServer*>(self);
  if (!sip || !sip->sip_request || msg_get_flags(msg, MSG_FLG_ERROR)) {
    nta_msg_discard(agent, msg);
    return 0;
  }
  server->handle(msg, sip, std::make_shared<NtaChannel>(agent, msg));
  return 0;
}

SipServer::Next SipServer::receive(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                   const std::shared_ptr<ResponseChannel>& channel, bool too_large) {
  const LimitVerdict verdict = too_large ? LimitVerdict{513, "Message Too Large", "max_message_bytes"}
                                         : check_message(bytes, config_.limits);
  if (!verdict.ok()) {
    reject_over_limit(bytes, from, from_length, channel, verdict);
    return too_large ? Next::kClose : Next::kContinue;
  }
  msg_t* msg = parse_sip_message(bytes, from, from_length);
  if (!msg) return Next::kClose;
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request) {  // a response or garbage: no transaction of ours waits for it
    msg_destroy(msg);
    if (answer_unreadable_method(bytes, from, from_length, channel)) return Next::kContinue;
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
  handle(msg, sip, channel);
  return Next::kContinue;
}

bool SipServer::answer_unreadable_method(std::string_view bytes, const su_sockaddr_t& from,
                                         socklen_t from_length,
                                         const std::shared_ptr<ResponseChannel>& channel) {
  const auto stand_in = stand_in_request(bytes, config_.limits);
  if (!stand_in || stand_in->method == "ACK") return false;
  msg_t* msg = parse_sip_message(stand_in->skeleton, from, from_length);
  if (!msg) return false;
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request || !sip->sip_via || stand_in->cseq.empty()) {
    msg_destroy(msg);
    return false;
  }
  Reply reply(stand_in->status, stand_in->status == 501 ? "Not Implemented" : "Bad Request-Line");
  reply.header("CSeq", stand_in->cseq);  // the request's own, which sofia could not read
  send_reply(msg, reply, *channel);
  return true;
}

void SipServer::reject_over_limit(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                  const std::shared_ptr<ResponseChannel>& channel,
                                  const LimitVerdict& verdict) {
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
  // sofia keeps whitespace inside an addr-spec (RFC 4475 badaspec,
  // "<sip: U1 @C1.D1.H1>"); no URI may hold it unescaped (RFC 3261 25.1).
  if (has_whitespace(sip->sip_from->a_url)) return reject(msg, sip, Reply(400, "Bad From Header"), channel);
  if (has_whitespace(sip->sip_to->a_url)) return reject(msg, sip, Reply(400, "Bad To Header"), channel);
  // The rest of sofia's sanity check: a Request-URI that is no URI (RFC 4475
  // 3.1.2.11 wants 400 for "<sip:...>"), or a sip: one without host.
  if (sip_sanity_check(sip) < 0) return reject(msg, sip, Reply(400, "Bad Request-URI"), channel);
  // RFC 3261 8.2.2.1: a Request-URI of a scheme we cannot serve is refused
  // before any handler reads it as if it were sip:.
  const url_t* target = sip->sip_request->rq_url;
  if (!target || (target->url_type != url_sip && target->url_type != url_sips))
    return reject(msg, sip, Reply(416, "Unsupported URI Scheme"), channel);
  // RFC 3261 8.2.2.3: no extension is supported, so any Require is refused,
  // on every method but ACK and CANCEL, which must not be (ACK is dropped
  // above anyway). The option tags go back in Unsupported.
  if (sip->sip_require && sip->sip_request->rq_method != sip_method_cancel) {
    Reply unsupported(420, "Bad Extension");
    unsupported.header("Unsupported", option_tags(sip->sip_require));
    return reject(msg, sip, unsupported, channel);
  }
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
  SofiaChainRequest request(*this, msg, sip, channel);
  chain_.run(request, loop_);
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
