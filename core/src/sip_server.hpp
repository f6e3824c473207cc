// The SIP front end, stateless: UDP, TCP and TLS listeners the core owns
// (UdpTransport, StreamTransport), and one sofia-sip nta agent for the core's
// own outgoing requests. Every message's raw bytes are checked against the
// limits before sofia parses them; every request walks the plugins' handler
// chain (request_chain.*) on the loop thread that received it.
//
// Loops (server.loops): each loop, the main one too, has its own socket on
// every listener (SO_REUSEPORT: UDP, TCP and TLS), its own overload guard and
// batch of responses; a connection is served by the loop that accepted it,
// and what another loop sends on it is posted there. The main loop also runs
// nta (the client, forwarding). The chain, the rate limit, the connection
// budget, the limit log and the counters are shared.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "config.hpp"
#include "event_loop.hpp"
#include "flow_token.hpp"
#include "homesip/handler.hpp"
#include "limit_log.hpp"
#include "metrics.hpp"
#include "overload_guard.hpp"
#include "request_chain.hpp"
#include "response_channel.hpp"
#include "source_limiter.hpp"
#include "stream_transport.hpp"
#include "udp_transport.hpp"

struct nta_agent_s;
typedef struct ssl_ctx_st SSL_CTX;
struct msg_s;
struct sip_s;
struct sip_via_s;

namespace homesip::core {

class SipServer {
 public:
  // `loop` is the main loop; server.loops - 1 more start with start().
  SipServer(SofiaEventLoop& loop, const ServerConfig& config, std::shared_ptr<spdlog::logger> log);
  ~SipServer();
  SipServer(const SipServer&) = delete;
  SipServer& operator=(const SipServer&) = delete;

  // The plugins' handlers; what no handler answers, the chain's defaults do.
  RequestChain& chain() { return chain_; }

  // Binds every listener, on every loop. Throws std::runtime_error naming the
  // address that failed. The main loop serves once it runs; the others once
  // run_loops() lets them (after the plugins started).
  void start();
  void run_loops();
  // How many loops serve (server.loops, 0 resolved to the CPU cores).
  size_t loops() const { return shards_.size(); }
  // New datagrams go to the main loop's sockets only; the other loops go on
  // turning and answering on their own sockets, so what they hold completes.
  void drain_loops();
  // Stops the loops beyond the main one: each answers what is still suspended
  // on it 503 with Retry-After and closes its sockets. Idempotent.
  void stop_loops();
  // stop_loops(), then the same on the main loop, whose TCP/TLS listeners
  // and nta close too (a UDP transport sends what it queued first).
  void stop();

  // No bound on a response's size (a request with an authenticated sender, or
  // server.limits.udp_amplification 0).
  static constexpr size_t kNoReplyBound = SIZE_MAX;
  using Clock = std::chrono::steady_clock;
  // Answers `msg` (taking ownership of it) on the channel it came in on. Over
  // UDP a response longer than `udp_bound` bytes is not sent
  // (server.limits.udp_amplification). Counted in request_metrics(), as
  // taking from `received` (none: answered as it came in). Loop thread only.
  void send_reply(msg_s* msg, const Reply& reply, ResponseChannel& channel, size_t udp_bound = kNoReplyBound,
                  Clock::time_point received = {});
  // How long a UDP response to a request of `request_bytes` from a sender
  // nobody authenticated may be.
  size_t udp_reply_bound(size_t request_bytes) const;
  // Stateless proxying (RFC 3261 16.11). check_forward() throws
  // std::logic_error for a request at Max-Forwards 0 and std::invalid_argument
  // for a target sofia cannot read; forward() then takes `msg`: our Via with
  // a branch computed from the request, Max-Forwards - 1, the Request-URI
  // replaced, sent to the next Route or the URI (482 instead when the
  // request already went through here with that branch: a loop).
  void check_forward(msg_s* msg, std::string_view request_uri) const;
  // The flows (flow_token.hpp) a forwarded request touches: the phone's
  // connection to send it on ("tls:IP:PORT"; empty: nta sends it by its
  // Route or Request-URI), and the phone's connection it came from when a
  // phone uses us as its outbound proxy over TCP/TLS.
  struct ForwardFlows {
    std::string out;
    std::string arrival;
    // `out` came from our sealed Record-Route (SipRequest::flow()), not from
    // a binding the handler chose: when it is gone, 430, never elsewhere.
    bool pinned = false;
  };
  void forward(msg_s* msg, std::string_view request_uri, ResponseChannel& channel, Clock::time_point received,
               const ForwardFlows& flows);
  // Counts a request that goes unanswered (dropped, discarded, an ACK).
  void count_unanswered(const sip_s* sip, Clock::time_point received);
  // Requests by method and final status, and their answers' latency.
  const RequestMetrics& request_metrics() const { return *request_metrics_; }
  // Requests a handler suspended and nobody answered yet.
  size_t suspended_pending() const { return chain_.suspended(); }
  // Open TCP/TLS connections, over every stream listener.
  size_t connection_count() const;
  // Each limit that bit so far (server.limits, server.connections) and how often.
  std::map<std::string, uint64_t> limit_hits() const { return limit_log_.totals(); }
  // Sources the rate limit tracks now (server.rate_limit.sources at most).
  size_t rate_limited_sources() const { return rate_limiter_.tracked(); }
  // How late the latest loop ran its last overload tick.
  std::chrono::milliseconds loop_lag() const;
  // Each loop's figures, the main loop's first. Any thread.
  struct LoopFigures {
    uint64_t messages = 0;  // received over its sockets and connections (the main loop's: nta's too)
    std::chrono::milliseconds lag{0};
    uint64_t pauses = 0;    // server.udp_coalesce_us: waits for more datagrams
    uint64_t absorbed = 0;  // UDP retransmissions of a request still suspended, dropped
  };
  std::vector<LoopFigures> loop_figures() const;
  // The agent, for the core's own outgoing requests (upstream registration).
  nta_agent_s* agent() const { return agent_; }

  // One loop's part: its UDP sockets and its overload guard.
  struct LoopShard;

 private:
  using Next = StreamTransport::Next;
  static int on_message(void* self, nta_agent_s* agent, msg_s* msg, sip_s* sip);
  // One whole message's bytes from any transport: limits, parse, nta's checks,
  // then handle(). kClose when a stream cannot go on after it.
  Next receive(LoopShard& shard, std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
               const std::shared_ptr<ResponseChannel>& channel, bool too_large);
  // server.rate_limit, before anything is parsed: false when `from` is over
  // its rate (the message is dropped, or answered 503 from its skeleton).
  bool admit_source(LoopShard& shard, std::string_view bytes, const su_sockaddr_t& from,
                    socklen_t from_length, const std::shared_ptr<ResponseChannel>& channel);
  // server.overload: true when the request was answered 503 (never an ACK or CANCEL).
  bool shed(LoopShard& shard, msg_s* msg, sip_s* sip, ResponseChannel& channel, size_t udp_bound);
  // `reply` to a message answered from its skeleton (request line, Via,
  // From, To, Call-ID, CSeq): over a limit, or over its source's rate.
  void answer_from_skeleton(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                            const std::shared_ptr<ResponseChannel>& channel, const Reply& reply);
  // A 503 with a jittered Retry-After (server.overload.retry_after_*).
  Reply unavailable(LoopShard& shard, const char* reason);
  // A message over the limits: answered from its reply skeleton, or dropped.
  void reject_over_limit(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                         const std::shared_ptr<ResponseChannel>& channel, const LimitVerdict& verdict);
  // A request line sofia cannot read: 501 for a method token it refuses (as to
  // any unknown method), 400 for a line with another defect.
  bool answer_unreadable_method(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length,
                                const std::shared_ptr<ResponseChannel>& channel);
  void start_nta();
  // Above one loop: every listener's group spreads senders evenly over the
  // loops (spread_port_group_by_source, a key drawn now), on the main loop's sockets.
  void spread_senders_over_loops(size_t loops);
  // The listeners of `shard` (UDP and stream), on its loop's thread: bound with `sharing`.
  void open_listeners(LoopShard& shard, PortSharing sharing,
                      const std::vector<std::shared_ptr<SSL_CTX>>& tls_contexts);
  // server.connections.max spent on `shard`'s loop (its thread): a slot for
  // the connection being accepted, or false (StreamTransport::RoomMaker).
  bool make_room(LoopShard& shard);
  // Closes the connection idle the longest over `shard`'s listeners; on its thread.
  bool close_oldest_idle(LoopShard& shard, bool hand_over);
  // Closes `shard`'s sockets after answering what waits on it; on its loop's thread.
  void close_shard(LoopShard& shard);
  // Drops what start() opened on `shard` when it failed; on its loop's thread.
  void release_shard(LoopShard& shard);
  // Takes the top Routes naming this server (;lr) off: the sender asks us to
  // proxy the request (routed_here()). `flow` gets the flow the first one's
  // token names, when it is one we sealed.
  bool take_own_routes(msg_s* msg, sip_s* sip, std::string& flow) const;
  // The Routes a target URI carries as headers ("?Route=..."), on top.
  void insert_uri_routes(msg_s* msg, sip_s* sip, const char* headers) const;
  // The first listener of `transport`, else the first listener.
  const ListenAddress* listener_for(std::string_view transport) const;
  // RFC 5658 double Record-Route on a dialog-forming request that comes from
  // or goes to a flow, so the dialog's later requests come back here.
  void record_route_flows(msg_s* msg, sip_s* sip, std::string_view arrival_transport,
                          const ForwardFlows& flows) const;
  // Sends `msg` with our Via (branch `branch`) on the open connection `flow`
  // names and takes it; false, leaving `msg` as it was, when there is none.
  // Any loop.
  bool send_on_flow(msg_s* msg, const std::string& branch, const std::string& flow);
  // Whether the connection `flow` names is open; any loop.
  bool flow_open(const std::string& flow) const;
  // The stream listener, of whichever loop, with an open connection from
  // `peer` over `transport` ("tcp", "tls"; "": either); null when none.
  std::shared_ptr<StreamTransport> stream_with(std::string_view transport, const su_sockaddr_t& peer) const;
  // Writes `bytes` on `stream`'s connection from `peer`, on the loop that
  // serves it (posted there from another loop).
  void write_on_connection(const std::shared_ptr<StreamTransport>& stream, const su_sockaddr_t& peer,
                           std::string_view bytes);
  // The hash in the branch our Via gets for `sip` sent to `request_uri`
  // (then its MAC, forward()); the same for a retransmission, its CANCEL and
  // the ACK of a failure, and for the request coming round again (a loop).
  std::string forward_branch(const sip_s* sip, std::string_view request_uri) const;
  // A response to a request we forwarded: our Via off, on to the next Via.
  // On `shard`'s loop: a UDP answer leaves from its sockets.
  void relay_response(LoopShard& shard, msg_s* msg, sip_s* sip);
  // Whether `ours` is a Via this server wrote on a request it forwarded with
  // the Via below it as it is now: its branch's MAC (forward_branch).
  bool our_branch(const sip_via_s* ours) const;
  void handle(LoopShard& shard, msg_s* msg, sip_s* sip, const std::shared_ptr<ResponseChannel>& channel,
              size_t request_bytes);
  bool well_formed(msg_s* msg, sip_s* sip, ResponseChannel& channel, size_t udp_bound);
  // Answers `reply` (or drops an ACK); always false, for well_formed's returns.
  bool reject(msg_s* msg, sip_s* sip, const Reply& reply, ResponseChannel& channel, size_t udp_bound);

  SofiaEventLoop& loop_;
  ServerConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  LimitLog limit_log_;
  SourceLimiter rate_limiter_;
  ConnectionBudget connection_budget_;  // server.connections.max over every loop
  // The main loop's first; the others' each with its LoopThread.
  std::vector<std::unique_ptr<LoopShard>> shards_;
  // The agent as forwarding sees it from any loop: a request another loop
  // forwards is handed to the main loop, which may have stopped meanwhile.
  struct AgentRef {
    nta_agent_s* agent = nullptr;  // the main loop's thread only; null once stopped
  };
  std::shared_ptr<AgentRef> agent_ref_ = std::make_shared<AgentRef>();
  nta_agent_s* agent_ = nullptr;
  std::atomic<bool> listening_{false};
  // "z9hG4bK-hs<hash of the first listener>-": branches of this server's
  // Vias, so its own are told from every other server's.
  std::string branch_prefix_;
  uint64_t transaction_seed_;  // of transaction_key: a retransmission's identity (sip_server.cpp)
  FlowTokens flow_tokens_;
  std::unique_ptr<RequestMetrics> request_metrics_ =
      std::make_unique<RequestMetrics>();  // 80 KB: not on the stack
  RequestChain chain_;
};

}  // namespace homesip::core
