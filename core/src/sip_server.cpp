#include "sip_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
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
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "flow_token.hpp"
#include "listen_address.hpp"
#include "loop_thread.hpp"
#include "message_limits.hpp"
#include "response_encoder.hpp"
#include "sip_message.hpp"
#include "sofia_request.hpp"

namespace homesip::core {
namespace {

// The largest message nta's client port takes: far below what would make
// sofia's recursive list parser overflow the stack, far above a real request.
constexpr size_t kClientPortMaxMessage = 16384;

// What nta sends over UDP before it switches to TCP (RFC 3261 18.1.1 says
// above 1300 bytes). Off: a forwarded request stays on the transport its
// target was registered with. A phone registered over UDP (baresip,
// linphonec) is reached over UDP; when a challenge's credentials pushed an
// INVITE past 1300 bytes, the switch to TCP made baresip's 200 wait for an
// ACK on a connection nobody used.
constexpr unsigned kUdpMtu = 65535;

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
    send_response_within(request, source, reply, SIZE_MAX);
  }
  bool send_response_within(const sip_s& request, const su_sockaddr_t& source, const Reply& reply,
                            size_t max_bytes) override {
    if (!request_) return true;
    std::string bytes;
    encode_response(request, source, reply, bytes);
    if (bytes.size() > max_bytes) return false;  // the request stays unanswered, as a lost datagram
    msg_t* response = msg_make(sip_default_mclass(), 0, bytes.data(), static_cast<isize_t>(bytes.size()));
    msg_t* answered = request_;
    request_ = nullptr;  // nta_msg_mreply takes it, whatever happens
    if (!response) {
      msg_destroy(answered);
      return true;
    }
    nta_msg_mreply(agent_, response, sip_object(response), reply.status, nullptr, answered, TAG_END());
    return true;
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

// The method as the request line has it, for the request counters.
std::string_view method_text(const sip_request_t* request) {
  return request->rq_method_name ? request->rq_method_name : "";
}

// A loop's UDP requests suspended in the chain (waiting on a store or a
// plugin), by transaction_key. A retransmission of one is absorbed (dropped:
// its answer is on the way) as a server transaction absorbs it (RFC 3261
// 17.2.1). Served again, each copy of a request whose answer takes longer
// than T1 (a slow disk's commit, a remote plugin) was parsed, walked through
// the chain and, for a REGISTER, queued behind the same commit: more work for
// a server that is slow already. Its loop's thread only.
class SuspendedTransactions {
 public:
  void set_loop(const SofiaEventLoop& loop, uint64_t seed) {
    loop_ = &loop;
    seed_ = seed;
  }
  bool on_loop_thread() const { return loop_ && loop_->on_loop_thread(); }
  // The request's key (transaction_key), computed only when something waits:
  // a request answered at once (INVITE's 302) pays nothing while none does.
  // True, counted, when it is a copy of one that waits.
  bool absorbs(msg_t* msg, const sip_t* sip, std::optional<uint64_t>& key) {
    if (keys_.empty()) return false;
    key = key_of(msg, sip);
    if (!key || keys_.count(*key) == 0) return false;
    absorbed_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::optional<uint64_t> key_of(msg_t* msg, const sip_t* sip) const;
  bool insert(uint64_t key) { return keys_.insert(key).second; }
  void erase(uint64_t key) { keys_.erase(key); }
  // Retransmissions dropped so far; any thread (homesipctl stats, /metrics).
  uint64_t absorbed() const { return absorbed_.load(std::memory_order_relaxed); }

 private:
  const SofiaEventLoop* loop_ = nullptr;
  uint64_t seed_ = 0;
  std::unordered_set<uint64_t> keys_;
  std::atomic<uint64_t> absorbed_{0};
};

// One request as the chain sees it: the sofia message (owned), its view, and
// the channel its answer goes back on. On the stack while the chain runs;
// detach() moves it to the heap when a handler suspends it.
class SofiaChainRequest final : public ChainRequest {
 public:
  SofiaChainRequest(SipServer& server, msg_t* msg, sip_t* sip,
                    const std::shared_ptr<ResponseChannel>& channel, bool routed_here, size_t udp_bound)
      : server_(server),
        msg_(msg),
        sip_(sip),
        channel_(&channel),
        view_(msg, sip, channel->transport(), routed_here, channel->peer_certificate_names()),
        udp_bound_(udp_bound) {}
  ~SofiaChainRequest() override {
    stop_waiting();
    if (!msg_) return;
    server_.count_unanswered(sip_, received_);  // discarded, or an ACK no handler forwarded
    msg_destroy(msg_);
  }
  const SipRequest& request() const override { return view_; }
  std::string_view reply_to_tag() const override {
    if (to_tag_.empty()) to_tag_ = response_to_tag(*sip_, to_tag_buffer_);
    return to_tag_;
  }
  void answer(const Reply& reply) override {
    if (!msg_) return;
    stop_waiting();
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.send_reply(msg, reply, **channel_, udp_bound_, received_);
  }
  // An authenticated sender's source is proven: its responses are not bounded.
  void mark_sender_authenticated() override { udp_bound_ = SipServer::kNoReplyBound; }
  void forward(std::string_view request_uri, std::string_view flow) override {
    if (!msg_) return;
    server_.check_forward(msg_, request_uri);
    SipServer::ForwardFlows flows;
    flows.out = flow.empty() ? view_.flow() : std::string(flow);
    flows.pinned = flow.empty() && !flows.out.empty();
    // A phone using us as its outbound proxy over its connection: that is its flow.
    if ((*channel_)->transport() != "udp" && view_.routed_here()) flows.arrival = view_.source().text();
    if (flows.out == flows.arrival) {  // never back where it came from
      flows.out.clear();
      flows.pinned = false;
    }
    stop_waiting();
    msg_t* msg = msg_;
    msg_ = nullptr;
    server_.forward(msg, request_uri, **channel_, received_, flows);
  }
  void set_flow(std::string flow) { view_.set_flow(std::move(flow)); }
  std::unique_ptr<ChainRequest> detach() override {
    auto detached =
        std::make_unique<SofiaChainRequest>(server_, msg_, sip_, *channel_, view_.routed_here(), udp_bound_);
    detached->set_flow(view_.flow());
    detached->received_ = received_;
    detached->kept_channel_ = *channel_;  // a connection closed meanwhile drops the late answer
    detached->channel_ = &detached->kept_channel_;
    if (waiting_) detached->wait_in(*waiting_, known_key_);
    msg_ = nullptr;
    return detached;
  }
  // Over UDP: once suspended, a retransmission of it is absorbed until it is
  // answered, forwarded or dropped. `key`: its transaction_key if known already.
  void absorb_retransmissions_in(SuspendedTransactions& waiting, std::optional<uint64_t> key) {
    waiting_ = &waiting;
    known_key_ = key;
  }

 private:
  void wait_in(SuspendedTransactions& waiting, std::optional<uint64_t> key) {
    waiting_ = &waiting;
    if (!key) key = waiting.key_of(msg_, sip_);
    if (!key) return;  // no RFC 3261 branch: not absorbed
    transaction_key_ = *key;
    registered_ = waiting.insert(transaction_key_);
  }
  // Off the loop's thread only when the chain answers what is left at shutdown,
  // after the loop stopped: the set goes with it.
  void stop_waiting() {
    if (!registered_) return;
    registered_ = false;
    if (waiting_->on_loop_thread()) waiting_->erase(transaction_key_);
  }

  SipServer& server_;
  msg_t* msg_;
  sip_t* sip_;
  SuspendedTransactions* waiting_ = nullptr;
  std::optional<uint64_t> known_key_;  // on the stack: computed by absorbs() already
  uint64_t transaction_key_ = 0;
  bool registered_ = false;  // this one put transaction_key_ in *waiting_
  // The transport's shared_ptr while on the stack (no reference count paid
  // per request); a copy of its own once detached.
  const std::shared_ptr<ResponseChannel>* channel_;
  std::shared_ptr<ResponseChannel> kept_channel_;
  SofiaRequest view_;
  size_t udp_bound_;  // SipServer::udp_reply_bound of the request's size
  SipServer::Clock::time_point received_ = SipServer::Clock::now();
  mutable char to_tag_buffer_[kToTagBufferSize];
  mutable std::string_view to_tag_;
};

// The URI parameter of our Record-Route entries that holds a sealed flow.
constexpr char kFlowParameter[] = "hs-flow";

// The value of URI parameter `name` ("" for one without a value); nullopt
// when absent or longer than anything we write (sofia's url_param then
// writes nothing).
std::optional<std::string> url_parameter(const url_t* url, const char* name) {
  char value[256] = {};
  const isize_t length = url_param(url->url_params, name, value, sizeof value);
  if (length == 0 || length > static_cast<isize_t>(sizeof value)) return std::nullopt;
  return std::string(value);
}

// How nta will send to `url`: "tls" for sips: or ;transport=tls, "tcp" for
// ;transport=tcp, else "udp".
std::string_view request_transport(const url_t* url) {
  if (url->url_type == url_sips) return "tls";
  if (const std::optional<std::string> transport = url_parameter(url, "transport")) {
    if (su_casematch(transport->c_str(), "tls")) return "tls";
    if (su_casematch(transport->c_str(), "tcp")) return "tcp";
  }
  return "udp";
}

// "UDP" of "SIP/2.0/UDP".
std::string_view via_transport_of(const sip_via_t* via) {
  const std::string_view protocol = via->v_protocol ? via->v_protocol : "";
  const size_t slash = protocol.rfind('/');
  return slash == std::string_view::npos ? protocol : protocol.substr(slash + 1);
}

// The MAC in our branches: 64 bits, so that nobody but this process writes a
// branch whose response we relay, and only to where its request came from.
constexpr size_t kBranchMacBytes = 8;

// What a branch's MAC covers: the branch's hash and the Via below ours as
// the request came (marked with received and rport), whose address the
// response goes back to. A forged response naming another client's
// connection in that Via fails it.
std::string branch_sealed_text(std::string_view hashed, const sip_via_t* via) {
  std::string text(hashed);
  if (!via) return text;
  for (const char* part : {via->v_protocol, via->v_host, via->v_port, via->v_received, via->v_rport}) {
    text += '\n';
    if (part) text += part;
  }
  return text;
}

// FNV-1a, 64 bits: the same on every run (a branch also carries a MAC under
// the running process's secret, so it does not survive a restart).
uint64_t stable_hash(std::string_view text, uint64_t hash = 14695981039346656037ull) {
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// What identifies a UDP request's server transaction (RFC 3261 17.2.3), as a
// hash: its top Via's branch and sent-by and its method; also its CSeq number
// (a client that reuses a branch for its next request is not silenced) and
// the address it came from (a copy from elsewhere is another sender's, so a
// collision aimed at someone's request needs that sender's address: spoofed,
// it could send the copy itself). Seeded with this server's secret. None for
// a branch without RFC 3261's magic cookie, which 17.2.3 matches by other
// means: not absorbed. Word-sized mixing, not stable_hash's byte loop: it runs
// for every request that suspends over UDP (each REGISTER).
std::optional<uint64_t> transaction_key(const sip_t* sip, const su_sockaddr_t& source,
                                        socklen_t source_length, uint64_t seed) {
  const sip_via_t* via = sip->sip_via;
  if (!via || !via->v_branch || !su_casenmatch(via->v_branch, "z9hG4bK", 7)) return std::nullopt;
  const auto mix = [](uint64_t hash, uint64_t value) {
    hash = (hash ^ value) * 0x9e3779b97f4a7c15ull;
    return hash ^ (hash >> 29);
  };
  const std::hash<std::string_view> text_hash;
  const auto text = [](const char* value) { return std::string_view(value ? value : ""); };
  uint64_t hash = mix(seed, text_hash(via->v_branch));
  hash = mix(hash, text_hash(text(via->v_host)));
  hash = mix(hash, text_hash(text(via->v_port)));
  hash = mix(hash, text_hash(method_text(sip->sip_request)));
  hash = mix(hash, sip->sip_cseq->cs_seq);
  uint64_t words[4] = {};
  std::memcpy(words, &source, std::min<size_t>({source_length, sizeof source, sizeof words}));
  for (const uint64_t word : words) hash = mix(hash, word);
  return hash;
}

std::optional<uint64_t> SuspendedTransactions::key_of(msg_t* msg, const sip_t* sip) const {
  su_sockaddr_t source{};
  socklen_t length = sizeof source;
  msg_get_address(msg, &source, &length);
  return transaction_key(sip, source, length, seed_);
}

std::string hex(uint64_t value, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, value >>= 4) text[static_cast<size_t>(i)] = kDigits[value & 15];
  return text;
}

bool starts_with(const char* text, const std::string& prefix) {
  return text && std::strncmp(text, prefix.c_str(), prefix.size()) == 0;
}

// The second of two values on one line ("Route: <a>, <b>") has no text of its
// own: once the first is removed, it must be encoded afresh.
void detach_from_line(msg_header_t* header) {
  if (header && header->sh_data && header->sh_len == 0) msg_fragment_clear(header->sh_common);
}

// RFC 3261 18.2.1 and RFC 3581 on the request we forward: the sender's Via
// gets where it really came from, so the response finds its way back
// without state. Over TCP/TLS rport is always set: it names the connection.
void mark_source(msg_t* msg, sip_t* sip, std::string_view transport) {
  sip_via_t* via = sip->sip_via;
  su_sockaddr_t source{};
  socklen_t length = sizeof source;
  if (!via || msg_get_address(msg, &source, &length) != 0) return;
  char ip[46];
  const std::string address(address_text(source, ip));
  su_home_t* home = msg_home(msg);
  // Always where it really came from: a received= or rport= the sender
  // wrote itself would choose where the responses go (relay_response).
  msg_header_replace_param(home, via->v_common, su_sprintf(home, "received=%s", address.c_str()));
  if (transport != "udp" || via->v_rport)
    msg_header_replace_param(home, via->v_common, su_sprintf(home, "rport=%u", ntohs(source.su_port)));
  msg_fragment_clear(via->v_common);
  detach_from_line(reinterpret_cast<msg_header_t*>(via->v_next));
}

// Where a response goes after we took our Via off: received (else the host)
// and rport (else the port, else 5060) of the Via now on top.
bool response_destination(const sip_via_t* via, su_sockaddr_t& destination) {
  const char* host = via->v_received ? via->v_received : via->v_host;
  const char* port = via->v_rport && *via->v_rport ? via->v_rport : via->v_port;
  if (!host) return false;
  std::string ip(host);
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  unsigned number = 5060;
  if (port) {
    const std::string_view text(port);
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size() || number == 0 || number > 65535)
      return false;
  }
  destination = su_sockaddr_t{};
  if (::inet_pton(AF_INET, ip.c_str(), &destination.su_sin.sin_addr) == 1) {
    destination.su_family = AF_INET;
  } else if (::inet_pton(AF_INET6, ip.c_str(), &destination.su_sin6.sin6_addr) == 1) {
    destination.su_family = AF_INET6;
  } else {
    return false;  // a name: no DNS on the way back (RFC 3261 18.2.2 would want it)
  }
  destination.su_port = htons(static_cast<uint16_t>(number));
  return true;
}

// A message on its way to another loop's thread: freed if it never arrives.
class HandedMessage {
 public:
  explicit HandedMessage(msg_t* msg) : msg_(msg) {}
  ~HandedMessage() {
    if (msg_) msg_destroy(msg_);
  }
  HandedMessage(const HandedMessage&) = delete;
  HandedMessage& operator=(const HandedMessage&) = delete;
  msg_t* release() { return std::exchange(msg_, nullptr); }

 private:
  msg_t* msg_;
};

// server.loops, with 0 resolved to the CPU cores.
size_t loop_count(uint32_t configured) {
  if (configured > 0) return configured;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

struct SipServer::LoopShard {
  LoopShard(const OverloadSettings& overload_settings, std::chrono::microseconds coalesce_window)
      : coalescer(coalesce_window), overload(overload_settings) {}
  SofiaEventLoop* loop = nullptr;
  std::unique_ptr<LoopThread> thread;  // none for the main loop
  WakeCoalescer coalescer;             // server.udp_coalesce_us; its UDP sockets hold a reference
  std::vector<std::shared_ptr<UdpTransport>> udp;
  // Its TCP/TLS listeners; a connection is served by the loop that accepted it.
  std::vector<std::shared_ptr<StreamTransport>> streams;
  OverloadGuard overload;
  std::unique_ptr<Timer> overload_tick;
  std::atomic<uint64_t> messages{0};
  SuspendedTransactions suspended_udp;
  bool stopped = false;  // stop_loops() closed it (on the main thread)
  // Another loop asked this one to free a connection slot and it has not run
  // yet: a flood of refused connections queues one scan here, not one each.
  std::atomic<bool> room_asked{false};
};

SipServer::SipServer(SofiaEventLoop& loop, const ServerConfig& config, std::shared_ptr<spdlog::logger> log)
    : loop_(loop),
      config_(config),
      log_(log),
      limit_log_(log),
      rate_limiter_(config.rate_limit),
      connection_budget_(config.connections.max_connections),
      branch_prefix_("z9hG4bK-hs" + hex(stable_hash(config.listen.front().text()), 8) + "-"),
      transaction_seed_((uint64_t{std::random_device{}()} << 32) | std::random_device{}()),
      chain_(log) {}

SipServer::~SipServer() { stop(); }

std::vector<SipServer::LoopFigures> SipServer::loop_figures() const {
  std::vector<LoopFigures> figures;
  for (const auto& shard : shards_)
    figures.push_back({shard->messages.load(), shard->overload.loop_lag(), shard->coalescer.pauses(),
                       shard->suspended_udp.absorbed()});
  return figures;
}

std::chrono::milliseconds SipServer::loop_lag() const {
  std::chrono::milliseconds lag{0};
  for (const auto& shard : shards_) lag = std::max(lag, shard->overload.loop_lag());
  return lag;
}

void SipServer::start() {
  const size_t loops = loop_count(config_.loops);
  for (size_t i = 0; i < loops; ++i) {
    auto shard = std::make_unique<LoopShard>(config_.overload, config_.udp_coalesce);
    if (i == 0) {
      shard->loop = &loop_;
    } else {
      shard->thread = std::make_unique<LoopThread>();
      shard->loop = &shard->thread->loop();
    }
    shard->suspended_udp.set_loop(*shard->loop, transaction_seed_);
    shards_.push_back(std::move(shard));
  }
  try {
    // One TLS context per tls: listener, shared by every loop's socket on it
    // (one session cache: a phone resumes its session on any loop).
    std::vector<std::shared_ptr<SSL_CTX>> tls(config_.listen.size());
    for (size_t i = 0; i < config_.listen.size(); ++i)
      if (config_.listen[i].transport == "tls")
        tls[i].reset(
            make_tls_server_context(config_.listen[i], config_.tls_certificates, config_.tls_verify_clients),
            SSL_CTX_free);
    // The main loop's sockets first: the group's first socket checks that no
    // other process holds the address; the other loops' sockets join it.
    open_listeners(*shards_.front(), loops > 1 ? PortSharing::kFirst : PortSharing::kAlone, tls);
    for (size_t i = 1; i < loops; ++i) {
      LoopShard& shard = *shards_[i];
      shard.thread->call([&] { open_listeners(shard, PortSharing::kJoin, tls); });
    }
    if (loops > 1) spread_senders_over_loops(loops);
    for (const auto& address : config_.listen) log_->info("listening on {}", address.text());
    if (loops > 1)
      log_->info("{} loops serve UDP, TCP and TLS, each with its own socket per listener", loops);
    if (!shards_.front()->streams.empty())
      log_->info("TCP/TLS: at most {} connections, idle timeout {} s, message timeout {} s",
                 config_.connections.max_connections, config_.connections.idle_timeout.count(),
                 config_.connections.message_timeout.count());
    start_nta();
  } catch (...) {
    // Each loop lets go of what it opened, on its own thread.
    for (size_t i = 1; i < shards_.size(); ++i) {
      LoopShard& shard = *shards_[i];
      shard.thread->call([&] { release_shard(shard); });
    }
    release_shard(*shards_.front());
    throw;
  }
  listening_ = true;
}

void SipServer::open_listeners(LoopShard& shard, PortSharing sharing,
                               const std::vector<std::shared_ptr<SSL_CTX>>& tls) {
  const auto buffer = static_cast<int>(config_.udp_buffer_bytes);
  for (size_t i = 0; i < config_.listen.size(); ++i) {
    const ListenAddress& address = config_.listen[i];
    if (address.transport != "udp") {
      shard.streams.push_back(std::make_shared<StreamTransport>(
          *shard.loop, address, sharing, tls[i].get(), config_.connections, connection_budget_,
          [this, &shard] { return make_room(shard); }, limit_log_,
          [this, &shard](std::string_view bytes, const su_sockaddr_t& from, socklen_t length,
                         const std::shared_ptr<ResponseChannel>& connection, bool too_large) {
            return receive(shard, bytes, from, length, connection, too_large);
          }));
      continue;
    }
    const int fd = bind_udp_socket(address, buffer, sharing);
    shard.udp.push_back(
        std::make_shared<UdpTransport>(shard.loop->root(), address, fd, shard.coalescer,
                                       [this, &shard](std::string_view bytes, const su_sockaddr_t& from,
                                                      socklen_t length, UdpTransport& udp) {
                                         receive(shard, bytes, from, length, udp.shared_from_this(), false);
                                       }));
  }
  if (!shard.udp.empty())
    shard.loop->set_before_wait([&shard] {
      for (auto& udp : shard.udp) udp->flush();
      shard.coalescer.pause_if_busy();  // after the answers left
    });
  shard.overload_tick = shard.loop->start_timer(
      OverloadGuard::kTick, true, [&shard] { shard.overload.tick(OverloadGuard::Clock::now()); });
}

// server.connections.max is spent: the connection idle the longest on this
// loop, over all its listeners, gives its slot to the one being accepted (a
// flood of idle plain-TCP connections must not lock TLS phones out). When
// none here is idle, each other loop closes its own oldest idle one, so the
// next newcomer finds a slot; this one is refused.
bool SipServer::make_room(LoopShard& shard) {
  if (close_oldest_idle(shard, true)) return true;
  for (auto& other : shards_)
    if (other.get() != &shard && !other->streams.empty() && !other->room_asked.exchange(true)) {
      LoopShard* target = other.get();
      target->loop->post([this, target] {
        target->room_asked = false;
        close_oldest_idle(*target, false);
      });
    }
  return false;
}

bool SipServer::close_oldest_idle(LoopShard& shard, bool hand_over) {
  StreamTransport* holder = nullptr;
  std::optional<StreamTransport::Clock::time_point> oldest;
  for (const auto& stream : shard.streams)
    if (const auto idle_since = stream->oldest_idle(); idle_since && (!oldest || *idle_since < *oldest)) {
      oldest = idle_since;
      holder = stream.get();
    }
  return holder && holder->close_oldest_idle(hand_over);
}

void SipServer::release_shard(LoopShard& shard) {
  shard.overload_tick.reset();
  shard.loop->set_before_wait(nullptr);
  shard.udp.clear();
  for (auto& stream : shard.streams) stream->close();
  shard.streams.clear();
}

void SipServer::run_loops() {
  for (auto& shard : shards_)
    if (shard->thread) shard->thread->run();
}

void SipServer::close_shard(LoopShard& shard) {
  chain_.answer_suspended(kShutdownRetryAfterSeconds, shard.loop);
  shard.overload_tick.reset();
  shard.loop->set_before_wait(nullptr);
  for (auto& udp : shard.udp) udp->close();
  // A connection's requests held elsewhere (a relayed response posted here)
  // keep the transport alive, closed.
  for (auto& stream : shard.streams) stream->close();
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
  agent_ref_->agent = agent_ = nta_agent_create(
      loop_.root(), URL_STRING_MAKE(url.c_str()), reinterpret_cast<nta_message_f*>(&SipServer::on_message),
      reinterpret_cast<nta_agent_magic_t*>(this), NTATAG_STATELESS(1), NTATAG_UA(0), NTATAG_SERVER_RPORT(1),
      NTATAG_MAXSIZE(kClientPortMaxMessage), NTATAG_UDP_MTU(kUdpMtu), TPTAG_UDP_RMEM(buffer),
      TPTAG_UDP_WMEM(buffer), TAG_END());
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
    // TLS to a parent (or a child) this server connects to: TLS 1.2 or 1.3
    // (TPTAG_TLS_VERSION(0); sofia's default 1 picks its TLSv1 method), agent.pem presented
    // when the peer asks (mutual TLS), and with tls_verify_servers the peer's
    // certificate must chain to cafile.pem, be in date, and name the host of
    // the URI: sofia's TPTLS_VERIFY_SUBJECTS_OUT compares the URI's host
    // (tp_canon, before any resolution) with the certificate's DNS SANs and
    // the hosts of its sip: URI SANs. It skips IP SANs (it looks for "IP",
    // OpenSSL says "IP Address"), so a server reached by address names it as
    // URI:sip:192.0.2.5 too (docs/security.md).
    const std::string tls = "sips:" + host + ":0";
    const unsigned policy = config_.tls_verify_servers ? TPTLS_VERIFY_SUBJECTS_OUT : TPTLS_VERIFY_NONE;
    if (nta_agent_add_tport(agent_, URL_STRING_MAKE(tls.c_str()), TPTAG_SERVER(0),
                            TPTAG_CERTIFICATE(config_.tls_certificates.c_str()), TPTAG_TLS_VERSION(0),
                            TPTAG_TLS_VERIFY_POLICY(policy), TPTAG_TLS_VERIFY_DATE(1), TAG_END()) < 0)
      log_->warn("no TLS for the server's own requests: {}", std::strerror(errno));
  }
}

void SipServer::spread_senders_over_loops(size_t loops) {
  const auto sockets = static_cast<uint32_t>(loops);
  const auto key = static_cast<uint16_t>(std::random_device{}());
  for (auto& udp : shards_.front()->udp)
    if (!udp->spread_group_by_source(sockets, key))
      log_->warn("{}: datagrams go to the loops by the kernel's hash of their source: {}",
                 udp->address().text(), std::strerror(errno));
  for (auto& stream : shards_.front()->streams)
    if (!stream->spread_group_by_source(sockets, key))
      log_->warn("{}: connections go to the loops by the kernel's hash of their source: {}",
                 stream->address().text(), std::strerror(errno));
}

void SipServer::drain_loops() {
  if (shards_.size() < 2 || !listening_) return;
  for (auto& udp : shards_.front()->udp)
    if (!udp->steer_group_to_first())  // then the other loops' datagrams of the shutdown are lost
      log_->warn("{}: the other loops' share of datagrams stays theirs while stopping: {}",
                 udp->address().text(), std::strerror(errno));
  // New connections too; those open already stay with their loops until stop_loops().
  for (auto& stream : shards_.front()->streams)
    if (!stream->steer_group_to_first())
      log_->warn("{}: the other loops' share of new connections stays theirs while stopping: {}",
                 stream->address().text(), std::strerror(errno));
}

void SipServer::stop_loops() {
  if (!listening_) return;
  // Each answers what waits on it and closes its sockets, on its own thread.
  for (size_t i = 1; i < shards_.size(); ++i) {
    LoopShard& shard = *shards_[i];
    if (shard.stopped) continue;
    shard.stopped = true;
    // Its stream transports stay (closed) until the server goes: other
    // loops look them up (stream_with) without a lock.
    shard.thread->call([&] {
      close_shard(shard);
      shard.udp.clear();
    });
    shard.thread->stop();
    // What plugins posted to it since runs now, before they are destroyed;
    // later posts are dropped (the SDK's promise), not run at the end.
    shard.thread->call([&shard] { shard.thread->loop().close(); });
  }
}

void SipServer::stop() {
  if (!listening_) return;
  stop_loops();
  if (!shards_.empty()) close_shard(*shards_.front());
  listening_ = false;
  if (agent_) nta_agent_destroy(agent_);
  agent_ref_->agent = agent_ = nullptr;
}

size_t SipServer::connection_count() const { return connection_budget_.used(); }

// A request on nta's client port: a server behind NAT is reached there,
// since that is the source its parent saw (docs/management-network.md). It
// is served like any other request; nta parsed it (NTATAG_MAXSIZE keeps it
// small enough for sofia's recursive list parser).
int SipServer::on_message(void* self, nta_agent_s* agent, msg_s* msg, sip_s* sip) {
  auto* server = static_cast<SipServer*>(self);
  if (sip && sip->sip_status && !msg_get_flags(msg, MSG_FLG_ERROR)) {
    // No client transaction of ours took it: a response to a request we forwarded, or a stray.
    server->relay_response(*server->shards_.front(), msg, sip);
    return 0;
  }
  if (!sip || !sip->sip_request || msg_get_flags(msg, MSG_FLG_ERROR)) {
    nta_msg_discard(agent, msg);
    return 0;
  }
  su_sockaddr_t from{};
  socklen_t from_length = sizeof from;
  msg_get_address(msg, &from, &from_length);
  if (!server->rate_limiter_.admit(from, SourceLimiter::Clock::now())) {  // parsed already: dropped
    char ip[46];
    server->limit_log_.hit("server.rate_limit", "from " + std::string(address_text(from, ip)) + " over udp");
    nta_msg_discard(agent, msg);
    return 0;
  }
  server->handle(*server->shards_.front(), msg, sip, std::make_shared<NtaChannel>(agent, msg), msg_size(msg));
  return 0;
}

SipServer::Next SipServer::receive(LoopShard& shard, std::string_view bytes, const su_sockaddr_t& from,
                                   socklen_t from_length, const std::shared_ptr<ResponseChannel>& channel,
                                   bool too_large) {
  shard.messages.fetch_add(1, std::memory_order_relaxed);
  if (!admit_source(shard, bytes, from, from_length, channel))
    return too_large ? Next::kClose : Next::kContinue;
  const LimitVerdict verdict = too_large ? LimitVerdict{513, "Message Too Large", "max_message_bytes"}
                                         : check_message(bytes, config_.limits);
  if (!verdict.ok()) {
    reject_over_limit(bytes, from, from_length, channel, verdict);
    return too_large ? Next::kClose : Next::kContinue;
  }
  msg_t* msg = parse_sip_message(bytes, from, from_length);
  if (!msg) return Next::kClose;
  sip_t* sip = sip_object(msg);
  if (sip && sip->sip_status && channel->transport() != "udp" && !msg_get_flags(msg, MSG_FLG_ERROR)) {
    relay_response(shard, msg, sip);  // a phone's answer on its flow, to a request we forwarded there
    return Next::kContinue;
  }
  if (!sip || !sip->sip_request) {  // a response or garbage: no transaction of ours waits for it
    msg_destroy(msg);
    if (answer_unreadable_method(bytes, from, from_length, channel)) return Next::kContinue;
    return channel->transport() == "udp" ? Next::kContinue : Next::kClose;
  }
  const bool ack = sip->sip_request->rq_method == sip_method_ack;
  const size_t udp_bound = udp_reply_bound(bytes.size());
  if (msg_get_flags(msg, MSG_FLG_ERROR)) {
    if (sip->sip_via && !ack)
      send_reply(msg, Reply(400, "Bad Request"), *channel, udp_bound);
    else
      msg_destroy(msg);
    return Next::kClose;  // a stream whose message sofia could not read cannot be trusted further
  }
  if (!su_casematch(sip->sip_request->rq_version, sip_version_2_0)) {
    if (sip->sip_via && !ack)
      send_reply(msg, Reply(505, "Version Not Supported"), *channel, udp_bound);
    else
      msg_destroy(msg);
    return Next::kContinue;
  }
  handle(shard, msg, sip, channel, bytes.size());
  return Next::kContinue;
}

bool SipServer::admit_source(LoopShard& shard, std::string_view bytes, const su_sockaddr_t& from,
                             socklen_t from_length, const std::shared_ptr<ResponseChannel>& channel) {
  if (rate_limiter_.admit(from, SourceLimiter::Clock::now())) return true;
  char ip[46];
  limit_log_.hit("server.rate_limit", "from " + std::string(address_text(from, ip)) + " over " +
                                          std::string(channel->transport()));
  if (config_.rate_limit.action == RateLimitSettings::Action::kReply503)
    answer_from_skeleton(bytes, from, from_length, channel, unavailable(shard, "Rate Limit Exceeded"));
  return false;
}

Reply SipServer::unavailable(LoopShard& shard, const char* reason) {
  Reply reply(503, reason);
  reply.header("Retry-After", std::to_string(shard.overload.retry_after()));
  return reply;
}

size_t SipServer::udp_reply_bound(size_t request_bytes) const {
  if (config_.udp_amplification == 0 || request_bytes == 0) return kNoReplyBound;
  return request_bytes * config_.udp_amplification;
}

bool SipServer::shed(LoopShard& shard, msg_t* msg, sip_t* sip, ResponseChannel& channel, size_t udp_bound) {
  const auto method = sip->sip_request->rq_method;
  // An ACK has no answer and a CANCEL ends work: neither adds load worth refusing.
  if (method == sip_method_ack || method == sip_method_cancel) return false;
  const size_t pending = chain_.suspended();
  const std::chrono::milliseconds queued = channel.queue_delay();
  if (!shard.overload.overloaded(pending, queued)) return false;
  su_sockaddr_t source{};
  socklen_t length = sizeof source;
  msg_get_address(msg, &source, &length);
  char ip[46];
  limit_log_.hit("server.overload", std::to_string(pending) + " requests pending, loop " +
                                        std::to_string(shard.overload.loop_lag().count()) +
                                        " ms late, queued " + std::to_string(queued.count()) +
                                        " ms; 503 to " + std::string(address_text(source, ip)));
  send_reply(msg, unavailable(shard, "Overloaded"), channel, udp_bound);
  return true;
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
  send_reply(msg, reply, *channel, udp_reply_bound(bytes.size()));
  return true;
}

void SipServer::reject_over_limit(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                  const std::shared_ptr<ResponseChannel>& channel,
                                  const LimitVerdict& verdict) {
  char ip[46];
  limit_log_.hit("server.limits." + std::string(verdict.limit),
                 std::string(verdict.reason) + " from " + std::string(address_text(from, ip)) + " over " +
                     std::string(channel->transport()));
  answer_from_skeleton(bytes, from, from_length, channel, Reply(verdict.status, verdict.reason));
}

void SipServer::answer_from_skeleton(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                     const std::shared_ptr<ResponseChannel>& channel, const Reply& reply) {
  const std::string skeleton = reply_skeleton(bytes, config_.limits);
  msg_t* msg = parse_sip_message(skeleton, from, from_length);
  if (!msg) return;
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request || !sip->sip_via || sip->sip_request->rq_method == sip_method_ack) {
    msg_destroy(msg);  // nowhere to answer, or an ACK, which is never answered
    return;
  }
  send_reply(msg, reply, *channel, udp_reply_bound(bytes.size()));
}

bool SipServer::well_formed(msg_t* msg, sip_t* sip, ResponseChannel& channel, size_t udp_bound) {
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
    return reject(msg, sip, Reply(400, std::string(what) + missing + " Header"), channel, udp_bound);
  }
  if (sip->sip_cseq->cs_method != sip->sip_request->rq_method ||
      (sip->sip_request->rq_method == sip_method_unknown &&
       !su_strmatch(sip->sip_cseq->cs_method_name, sip->sip_request->rq_method_name)))
    return reject(msg, sip, Reply(400, "CSeq Method Does Not Match"), channel, udp_bound);
  // A header sofia could not parse.
  if (sip->sip_error) {
    const std::string name = bad_header_name(sip->sip_error);
    return reject(msg, sip, Reply(400, name.empty() ? "Bad Header" : "Bad Header " + name), channel,
                  udp_bound);
  }
  // sofia keeps whitespace inside an addr-spec (RFC 4475 badaspec,
  // "<sip: U1 @C1.D1.H1>"); no URI may hold it unescaped (RFC 3261 25.1).
  if (has_whitespace(sip->sip_from->a_url))
    return reject(msg, sip, Reply(400, "Bad From Header"), channel, udp_bound);
  if (has_whitespace(sip->sip_to->a_url))
    return reject(msg, sip, Reply(400, "Bad To Header"), channel, udp_bound);
  // The rest of sofia's sanity check: a Request-URI that is no URI (RFC 4475
  // 3.1.2.11 wants 400 for "<sip:...>"), or a sip: one without host.
  if (sip_sanity_check(sip) < 0) return reject(msg, sip, Reply(400, "Bad Request-URI"), channel, udp_bound);
  // RFC 3261 8.2.2.1: a Request-URI of a scheme we cannot serve is refused
  // before any handler reads it as if it were sip:.
  const url_t* target = sip->sip_request->rq_url;
  if (!target || (target->url_type != url_sip && target->url_type != url_sips))
    return reject(msg, sip, Reply(416, "Unsupported URI Scheme"), channel, udp_bound);
  // RFC 3261 8.2.2.3: no extension is supported, so any Require is refused,
  // on every method but ACK and CANCEL, which must not be. The option tags go
  // back in Unsupported.
  if (sip->sip_require && sip->sip_request->rq_method != sip_method_cancel &&
      sip->sip_request->rq_method != sip_method_ack) {
    Reply unsupported(420, "Bad Extension");
    unsupported.header("Unsupported", option_tags(sip->sip_require));
    return reject(msg, sip, unsupported, channel, udp_bound);
  }
  return true;
}

bool SipServer::reject(msg_t* msg, sip_t* sip, const Reply& reply, ResponseChannel& channel,
                       size_t udp_bound) {
  if (sip->sip_request->rq_method == sip_method_ack)
    msg_destroy(msg);  // an ACK is never answered
  else
    send_reply(msg, reply, channel, udp_bound);
  return false;
}

void SipServer::handle(LoopShard& shard, msg_t* msg, sip_t* sip,
                       const std::shared_ptr<ResponseChannel>& channel, size_t request_bytes) {
  const size_t udp_bound = udp_reply_bound(request_bytes);
  if (!well_formed(msg, sip, *channel, udp_bound)) return;
  const bool over_udp = channel->transport() == "udp" && sip->sip_request->rq_method != sip_method_ack;
  std::optional<uint64_t> transaction;
  if (over_udp && shard.suspended_udp.absorbs(msg, sip, transaction)) {
    msg_destroy(msg);
    return;
  }
  if (shed(shard, msg, sip, *channel, udp_bound)) return;
  // ACK walks the chain too: a handler that forwards INVITEs forwards their
  // ACKs; the ACK of our own final answer no handler forwards, and it is dropped.
  std::string flow;
  const bool routed_here = sip->sip_route && take_own_routes(msg, sip, flow);
  SofiaChainRequest request(*this, msg, sip, channel, routed_here, udp_bound);
  if (over_udp) request.absorb_retransmissions_in(shard.suspended_udp, transaction);
  // A token naming the connection the request came on is the sender's own
  // (its phone-side entry is never the one it addresses): not honoured.
  if (!flow.empty() && flow != request.request().source().text()) request.set_flow(std::move(flow));
  chain_.run(request, *shard.loop);
}

bool SipServer::take_own_routes(msg_t* msg, sip_t* sip, std::string& flow) const {
  // Loose routing only (RFC 3261 16.4): a strict route (no ;lr) naming us
  // would carry the real Request-URI in the last Route; no phone sends one,
  // so it is not supported and such a request is served as addressed.
  auto ours = [this](const sip_route_t* route) {
    return route && url_has_param(route->r_url, "lr") &&
           addresses_listener(config_.listen, uri_view(route->r_url));
  };
  auto take = [msg, sip] {
    sip_route_remove(msg, sip);
    detach_from_line(reinterpret_cast<msg_header_t*>(sip->sip_route));
  };
  if (!ours(sip->sip_route)) return false;
  // The entry the sender addressed is the side it is on; its token names
  // the flow on the other side (record_route_flows). Only inside the dialog
  // it was sealed for (its Call-ID, a To-tag): nothing else may name a flow.
  const std::optional<std::string> first = url_parameter(sip->sip_route->r_url, kFlowParameter);
  if (first && sip->sip_to && sip->sip_to->a_tag && sip->sip_call_id)
    if (std::optional<std::string> source = flow_tokens_.open(*first, sip->sip_call_id->i_id))
      flow = std::move(*source);
  take();
  // The other half of our double Record-Route (RFC 5658), one of the two
  // sealed; two plain Routes naming us are a loop, which forward() finds.
  if (ours(sip->sip_route) && (first || url_parameter(sip->sip_route->r_url, kFlowParameter))) take();
  return true;
}

std::string SipServer::forward_branch(const sip_t* sip, std::string_view request_uri) const {
  // RFC 3261 16.11: the received branch (of the topmost Via that is not one
  // of ours, so a request coming round again computes what it got the first
  // time) and the outgoing Request-URI. A Via without an RFC 3261 branch
  // stands in with its sent-by and the transaction's identifiers. forward()
  // then adds a MAC over this and where the responses go back.
  const sip_via_t* via = sip->sip_via;
  while (via && starts_with(via->v_branch, branch_prefix_)) via = via->v_next;
  uint64_t hash = stable_hash(request_uri);
  if (via && via->v_branch && su_casenmatch(via->v_branch, "z9hG4bK", 7)) {
    hash = stable_hash(via->v_branch, stable_hash("\n", hash));
  } else {
    if (via)
      hash = stable_hash(via->v_host ? via->v_host : "", stable_hash(via->v_port ? via->v_port : "", hash));
    hash = stable_hash(sip->sip_call_id->i_id, hash);
    hash = stable_hash(sip->sip_from->a_tag ? sip->sip_from->a_tag : "", hash);
    hash = stable_hash(std::to_string(sip->sip_cseq->cs_seq), hash);
  }
  return hex(hash, 16);
}

void SipServer::check_forward(msg_t* msg, std::string_view request_uri) const {
  const sip_t* sip = sip_object(msg);
  if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0)
    throw std::logic_error("forward() of a request at Max-Forwards 0: the handler answers 483");
  const std::string text(request_uri);
  url_t url[1];
  std::string copy = text;  // url_d parses in place
  if (url_d(url, copy.data()) < 0 || (url->url_type != url_sip && url->url_type != url_sips) ||
      !url->url_host)
    throw std::invalid_argument("forward() to a URI sofia cannot read: " + text);
}

void SipServer::forward(msg_t* msg, std::string_view request_uri, ResponseChannel& channel,
                        Clock::time_point received, const ForwardFlows& flows) {
  sip_t* sip = sip_object(msg);
  const bool ack = sip->sip_request->rq_method == sip_method_ack;
  const std::string hashed = forward_branch(sip, request_uri);
  for (const sip_via_t* via = sip->sip_via; via; via = via->v_next)
    if (starts_with(via->v_branch,
                    branch_prefix_ + hashed)) {  // it went this way before: RFC 3261 16.3 item 4
      if (ack)
        msg_destroy(msg);
      else
        send_reply(msg, Reply(482, "Loop Detected"), channel, kNoReplyBound, received);
      return;
    }
  // The branch seals where the responses go back, the Via below ours as it
  // now is (relay_response).
  mark_source(msg, sip, channel.transport());
  const std::string branch =
      branch_prefix_ + hashed + flow_tokens_.mac(branch_sealed_text(hashed, sip->sip_via), kBranchMacBytes);
  // A request of a dialog bound for a flow that is gone: 430 Flow Failed
  // (RFC 5626 5.3), never on to whatever its Request-URI names.
  if (flows.pinned && !flow_open(flows.out)) {
    if (ack) return msg_destroy(msg);
    return send_reply(msg, Reply(430, "Flow Failed"), channel, kNoReplyBound, received);
  }
  su_home_t* home = msg_home(msg);
  const std::string target(request_uri);
  url_t* url = url_make(home, target.c_str());
  if (!url) {
    msg_destroy(msg);
    return;
  }
  // A Contact with an embedded Route (a server that reaches its phone only
  // through itself: "sip:U1@C1.D1.H1?Route=%3Csip:192.0.2.5;lr%3E") names
  // the next hop; headers never stay in a Request-URI.
  if (url->url_headers) {
    insert_uri_routes(msg, sip, url->url_headers);
    url->url_headers = nullptr;
  }
  *sip->sip_request->rq_url = *url;  // its strings live in the message's home
  msg_fragment_clear(sip->sip_request->rq_common);
  if (sip->sip_max_forwards) {
    --sip->sip_max_forwards->mf_count;
    msg_fragment_clear(sip->sip_max_forwards->mf_common);
  } else {
    msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                      reinterpret_cast<msg_header_t*>(sip_max_forwards_make(home, "70")));
  }
  record_route_flows(msg, sip, channel.transport(), flows);
  request_metrics_->record(method_text(sip->sip_request), RequestMetrics::kForwarded,
                           received == Clock::time_point{} ? Clock::duration{} : Clock::now() - received);
  // On the flow when it is open; else nta adds our Via (its client port's
  // address, rport) with this branch, and sends to the top Route (;lr) or
  // else the Request-URI, resolving it (RFC 3263) and picking the transport;
  // it keeps no state of it. Both are the main loop's: another loop hands
  // the request over.
  auto send = [this, agent = agent_ref_, log = log_, branch, target, ack, flow = flows.out,
               pinned = flows.pinned](msg_t* message) {
    if (!agent->agent) {  // stopping: nothing goes out any more
      msg_destroy(message);
      return;
    }
    if (!flow.empty()) {
      if (send_on_flow(message, branch, flow)) return;
      if (pinned) {
        log->debug("flow {} is gone: {} of its dialog dropped", flow, ack ? "an ACK" : "a request");
        return msg_destroy(message);
      }
      // A binding's flow gone: its Contact, which the server chose, as for any phone.
      log->debug("flow {} is gone: {} sent to {}", flow, ack ? "an ACK" : "a request", target);
    }
    if (nta_msg_tsend(agent->agent, message, nullptr, NTATAG_BRANCH_KEY(branch.c_str()), TAG_END()) < 0)
      log->debug("could not forward {} to {}", ack ? "an ACK" : "a request", target);
  };
  if (loop_.on_loop_thread()) return send(msg);
  // Freed with the task if the main loop drops it (shutdown).
  auto handed = std::make_shared<HandedMessage>(msg);
  loop_.post([send, handed] { send(handed->release()); });
}

void SipServer::insert_uri_routes(msg_t* msg, sip_t* sip, const char* headers) const {
  // "Route=<escaped value>&Other=..." (RFC 3261 19.1.1): only Route is taken,
  // in the order given, each on top of what was there. One naming this
  // server is not: a Contact must not send a request back to us as if we
  // had sent it.
  std::vector<sip_route_t*> routes;
  std::string_view rest(headers);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view field = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    const size_t equals = field.find('=');
    if (equals == std::string_view::npos || !su_casenmatch(field.data(), "Route", 5) || equals != 5) continue;
    std::string value(field.substr(equals + 1));
    url_unescape(value.data(), value.c_str());
    value.resize(std::strlen(value.c_str()));
    sip_route_t* route = sip_route_make(msg_home(msg), value.c_str());
    if (route && !addresses_listener(config_.listen, uri_view(route->r_url))) routes.push_back(route);
  }
  // On top: the first is the next hop (msg_header_insert would append a Route).
  for (auto it = routes.rbegin(); it != routes.rend(); ++it)
    msg_header_prepend(msg, reinterpret_cast<msg_pub_t*>(sip),
                       reinterpret_cast<msg_header_t**>(&sip->sip_route),
                       reinterpret_cast<msg_header_t*>(*it));
}

const ListenAddress* SipServer::listener_for(std::string_view transport) const {
  for (const ListenAddress& listener : config_.listen)
    if (listener.transport == transport) return &listener;
  return config_.listen.empty() ? nullptr : &config_.listen.front();
}

void SipServer::record_route_flows(msg_t* msg, sip_t* sip, std::string_view arrival_transport,
                                   const ForwardFlows& flows) const {
  // Only what starts a dialog (no To-tag yet): its later requests follow
  // the Record-Route; a re-INVITE's route set is fixed already.
  const sip_method_t method = sip->sip_request->rq_method;
  if (method != sip_method_invite && method != sip_method_subscribe && method != sip_method_refer) return;
  if (sip->sip_to && sip->sip_to->a_tag) return;
  if (flows.out.empty() && flows.arrival.empty()) return;
  // RFC 5658: one entry per side, the one facing the next hop on top. Each
  // entry is addressed by the peer on its side and carries the token of the
  // flow on the other side, where such a request must go.
  const std::string_view out_transport =
      !flows.out.empty()
          ? std::string_view(flows.out).substr(0, 3)
          : request_transport(sip->sip_route ? sip->sip_route->r_url : sip->sip_request->rq_url);
  const ListenAddress* facing_arrival = listener_for(arrival_transport);
  const ListenAddress* facing_out = listener_for(out_transport);
  if (!facing_arrival || !facing_out) return;
  su_home_t* home = msg_home(msg);
  auto insert = [&](const ListenAddress& listener, const std::string& flow) {
    // sip: with ;transport= even for TLS: baresip 1.0.0 fails a dialog whose
    // route set holds a sips: URI (ENOSYS), and the hop is TLS either way.
    const std::string host =
        listener.host.find(':') != std::string::npos ? "[" + listener.host + "]" : listener.host;
    std::string uri = "sip:" + host + ":" + std::to_string(listener.port);
    if (listener.transport != "udp") uri += ";transport=" + listener.transport;
    uri += ";lr";
    if (!flow.empty())
      uri += std::string(";") + kFlowParameter + "=" + flow_tokens_.seal(flow, sip->sip_call_id->i_id);
    const std::string value = "<" + uri + ">";
    if (sip_record_route_t* entry = sip_record_route_make(home, value.c_str()))
      msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(entry));
  };
  insert(*facing_arrival, flows.out);  // inserted first: ends up below
  insert(*facing_out, flows.arrival);
}

std::shared_ptr<StreamTransport> SipServer::stream_with(std::string_view transport,
                                                        const su_sockaddr_t& peer) const {
  for (const auto& shard : shards_)
    for (const auto& stream : shard->streams)
      if ((transport.empty() || stream->address().transport == transport) &&
          stream->has_connection_any_thread(peer))
        return stream;
  return nullptr;
}

void SipServer::write_on_connection(const std::shared_ptr<StreamTransport>& stream, const su_sockaddr_t& peer,
                                    std::string_view bytes) {
  if (stream->loop().on_loop_thread()) {
    stream->send_to(peer, bytes);
    return;
  }
  // Closed meanwhile: send_to finds no connection and the message is lost as
  // if the connection had closed just after it was written (a forward then
  // gets no fallback to the Contact, no 430: the sender retransmits, and the
  // retransmission finds the flow gone). The loop stopped: dropped with the task.
  stream->loop().post([stream, peer, text = std::string(bytes)] { stream->send_to(peer, text); });
}

bool SipServer::flow_open(const std::string& flow) const {
  const std::optional<FlowAddress> address = parse_flow(flow);
  return address && stream_with(address->transport, reinterpret_cast<const su_sockaddr_t&>(address->peer));
}

bool SipServer::send_on_flow(msg_t* msg, const std::string& branch, const std::string& flow) {
  const std::optional<FlowAddress> address = parse_flow(flow);
  if (!address) return false;
  const su_sockaddr_t& peer = reinterpret_cast<const su_sockaddr_t&>(address->peer);
  const std::shared_ptr<StreamTransport> stream = stream_with(address->transport, peer);
  if (!stream) return false;
  // Our Via names the listener the connection came in on; the phone answers
  // on the connection anyway (RFC 3261 18.2.2).
  sip_t* sip = sip_object(msg);
  su_home_t* home = msg_home(msg);
  const ListenAddress& listener = stream->address();
  const std::string host =
      listener.host.find(':') != std::string::npos ? "[" + listener.host + "]" : listener.host;
  sip_via_t* via =
      sip_via_format(home, "SIP/2.0/%s %s:%u;branch=%s;rport", address->transport == "tls" ? "TLS" : "TCP",
                     host.c_str(), static_cast<unsigned>(listener.port), branch.c_str());
  if (!via) return false;
  msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(via));
  // On a connection the Content-Length ends the message (RFC 3261 18.3).
  if (!sip->sip_content_length)
    msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                      reinterpret_cast<msg_header_t*>(sip_content_length_create(
                          home, sip->sip_payload ? static_cast<uint32_t>(sip->sip_payload->pl_len) : 0)));
  size_t length = 0;
  if (const char* bytes = msg_as_string(home, msg, nullptr, 0, &length))
    write_on_connection(stream, peer, std::string_view(bytes, length));
  msg_destroy(msg);
  return true;
}

bool SipServer::our_branch(const sip_via_t* ours) const {
  if (!ours || !ours->v_next || !starts_with(ours->v_branch, branch_prefix_)) return false;
  const std::string_view rest = std::string_view(ours->v_branch).substr(branch_prefix_.size());
  if (rest.size() != 16 + 2 * kBranchMacBytes) return false;
  return flow_tokens_.matches(branch_sealed_text(rest.substr(0, 16), ours->v_next), rest.substr(16));
}

void SipServer::relay_response(LoopShard& shard, msg_t* msg, sip_t* sip) {
  const sip_via_t* ours = sip->sip_via;
  if (!listening_ || !our_branch(ours)) {
    msg_destroy(msg);  // neither ours nor a client transaction's: dropped quietly
    return;
  }
  // From a listener of ours (RFC 3581 symmetric response: where the
  // sender's request came in, for UDP of the address family), or on the
  // sender's connection; else nta sends it by the Via (it takes ours off).
  const sip_via_t* next = ours->v_next;
  su_sockaddr_t destination{};
  if (!response_destination(next, destination)) {
    msg_destroy(msg);
    return;
  }
  const bool udp = su_casematch(std::string(via_transport_of(next)).c_str(), "UDP");
  UdpTransport* udp_listener = nullptr;
  std::shared_ptr<StreamTransport> stream_listener;
  if (udp) {
    for (auto& listener : shard.udp)  // this loop's own sockets
      if (!udp_listener &&
          (listener->address().host.find(':') != std::string::npos) == (destination.su_family == AF_INET6))
        udp_listener = listener.get();
  } else {
    stream_listener = stream_with("", destination);
  }
  if (!udp_listener && !stream_listener) {
    // nta is the main loop's: another loop hands the response over.
    auto send = [agent = agent_ref_](msg_t* message) {
      if (agent->agent)
        nta_msg_tsend(agent->agent, message, nullptr, TAG_END());
      else
        msg_destroy(message);  // stopping: nothing goes out any more
    };
    if (loop_.on_loop_thread()) return send(msg);
    auto handed = std::make_shared<HandedMessage>(msg);
    loop_.post([send, handed] { send(handed->release()); });
    return;
  }
  sip_via_remove(msg, sip);
  detach_from_line(reinterpret_cast<msg_header_t*>(sip->sip_via));
  // A response that came over UDP may lack Content-Length (RFC 3261 20.14);
  // on a connection it is what ends the message (18.3).
  if (stream_listener && !sip->sip_content_length)
    msg_header_insert(
        msg, reinterpret_cast<msg_pub_t*>(sip),
        reinterpret_cast<msg_header_t*>(sip_content_length_create(
            msg_home(msg), sip->sip_payload ? static_cast<uint32_t>(sip->sip_payload->pl_len) : 0)));
  size_t length = 0;
  if (const char* bytes = msg_as_string(msg_home(msg), msg, nullptr, 0, &length)) {
    const std::string_view text(bytes, length);
    if (udp_listener)
      udp_listener->queue(destination).assign(text);
    else
      write_on_connection(stream_listener, destination, text);
  }
  msg_destroy(msg);
}

void SipServer::count_unanswered(const sip_t* sip, Clock::time_point received) {
  if (!sip || !sip->sip_request) return;
  request_metrics_->record(method_text(sip->sip_request), RequestMetrics::kUnanswered,
                           Clock::now() - received);
}

void SipServer::send_reply(msg_t* msg, const Reply& reply, ResponseChannel& channel, size_t udp_bound,
                           Clock::time_point received) {
  if (const sip_t* request = sip_object(msg); request && request->sip_request) {
    const auto now = Clock::now();
    request_metrics_->record(method_text(request->sip_request), reply.status,
                             received == Clock::time_point{} ? Clock::duration{} : now - received);
  }
  // Listeners closed, or the connection gone while a handler waited: nothing can be sent.
  if (listening_ && !channel.closed()) {
    const sip_t* sip = sip_object(msg);
    su_sockaddr_t source{};
    socklen_t length = sizeof source;
    msg_get_address(msg, &source, &length);
    if (sip && sip->sip_via && !channel.send_response_within(*sip, source, reply, udp_bound)) {
      // A spoofed source would receive more than the sender paid for: reflection.
      char ip[46];
      limit_log_.hit("server.limits.udp_amplification",
                     std::to_string(reply.status) + " to " + std::string(address_text(source, ip)) +
                         " longer than " + std::to_string(udp_bound) + " bytes, not sent");
    }
  }
  msg_destroy(msg);
}

}  // namespace homesip::core
