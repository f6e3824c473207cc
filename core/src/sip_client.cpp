#include "sip_client.hpp"

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include <atomic>
#include <random>
#include <stdexcept>

#include "message_limits.hpp"
#include "sofia_request.hpp"

namespace homesip::core {

// One request in flight. `client` and `orq` belong to the main loop's thread
// (nta's); `done` to the loop that sent it (`caller`, when not the main one).
struct NtaSipClient::Pending : std::enable_shared_from_this<Pending> {
  NtaSipClient* client = nullptr;  // null once answered, cancelled, or the client is gone
  nta_outgoing_t* orq = nullptr;
  ResponseDone done;
  EventLoop* caller = nullptr;     // another loop than the main one sent it
  EventLoop* main_loop = nullptr;  // outlives every client and transaction
  std::atomic<bool> cancelled{false};
  std::string call_id;
  uint32_t cseq = 0;

  // nta's response callback: the final response ends the transaction for us.
  static int on_response(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, const sip_t* sip);
  // On the main loop: the transaction is over; the callback runs on the caller's loop.
  void deliver(msg_t* msg, const sip_t* sip, bool local);
  // On the loop that sent the request.
  void call_back(msg_t* msg, const sip_t* sip, bool local, const std::shared_ptr<spdlog::logger>& log);
  // The handle went away first: no callback from here on. On the caller's loop.
  void cancel();
  // The main loop's part of cancel().
  void end_transaction();
};

namespace {

using MessagePtr = std::unique_ptr<msg_t, decltype(&msg_destroy)>;

// A From-tag or Call-ID made off the main loop, where nta's own generator
// (which counts in the agent) may not run: random, 80 bits in base 32.
std::string random_token() {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  thread_local std::mt19937_64 random(std::random_device{}());
  const uint64_t high = random(), low = random();
  std::string token;
  for (int i = 0; i < 8; ++i) token += kDigits[(high >> (5 * i)) & 31];
  for (int i = 0; i < 8; ++i) token += kDigits[(low >> (5 * i)) & 31];
  return token;
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!is_token_char(c)) return false;
  return true;
}

// A value that would end its header line early would let a caller add headers.
bool is_single_line(std::string_view text) { return text.find_first_of("\r\n") == std::string_view::npos; }

// Adds a header made in the message's home; a null one (out of memory) is skipped.
template <class Header>
void insert(msg_t* msg, Header* header) {
  if (header)
    msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip_object(msg)),
                      reinterpret_cast<msg_header_t*>(header));
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// The To of a request that names none: the Request-URI without its parameters.
std::string to_from_request_uri(const UriView& uri) {
  std::string to = "<";
  to.append(uri.scheme).append(":");
  if (!uri.user.empty()) to.append(uri.user).append("@");
  to.append(uri.host);
  if (!uri.port.empty()) to.append(":").append(uri.port);
  return to + ">";
}

// The request as sofia objects, in the message's own home. Throws
// std::invalid_argument for anything that cannot be built.
void build_request(nta_agent_t* agent, msg_t* msg, const OutgoingRequest& request, const UriView& target,
                   const std::string& default_from, bool on_agent_thread) {
  sip_t* sip = sip_object(msg);
  su_home_t* home = msg_home(msg);
  const sip_method_t method = sip_method_code(request.method.c_str());
  auto* line = sip_request_create(home, method, request.method.c_str(),
                                  URL_STRING_MAKE(request.request_uri.c_str()), nullptr);
  require(line && msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                                    reinterpret_cast<msg_header_t*>(line)) == 0,
          "cannot build a request line for " + request.request_uri);

  const std::string& from_text = request.from.empty() ? default_from : request.from;
  require(is_single_line(from_text), "From spans lines");
  sip_from_t* from = sip_from_make(home, from_text.c_str());
  require(from != nullptr, "not a From: " + from_text);
  if (!from->a_tag) {
    sip_fragment_clear(from->a_common);
    sip_from_add_param(home, from,
                       on_agent_thread ? nta_agent_newtag(home, "tag=%s", agent)
                                       : su_sprintf(home, "tag=%s", random_token().c_str()));
  }
  insert(msg, from);

  const std::string to_text = request.to.empty() ? to_from_request_uri(target) : request.to;
  require(is_single_line(to_text), "To spans lines");
  sip_to_t* to = sip_to_make(home, to_text.c_str());
  require(to != nullptr, "not a To: " + to_text);
  insert(msg, to);

  require(is_single_line(request.call_id) && request.call_id.find(' ') == std::string::npos,
          "not a Call-ID: " + request.call_id);
  sip_call_id_t* call_id = !request.call_id.empty() ? sip_call_id_make(home, request.call_id.c_str())
                           : on_agent_thread        ? sip_call_id_create(home, nullptr)
                                                    : sip_call_id_make(home, random_token().c_str());
  require(call_id != nullptr, "not a Call-ID: " + request.call_id);
  insert(msg, call_id);

  // A new Call-ID starts its own CSeq space: 1 is as good as any.
  sip_cseq_t* cseq = sip_cseq_create(home, request.cseq ? request.cseq : 1, method, request.method.c_str());
  insert(msg, cseq);
  insert(msg, sip_max_forwards_make(home, "70"));

  for (const auto& [name, value] : request.headers) {
    require(is_token(name) && is_single_line(value), "not a header line: " + name);
    const std::string line_text = name + ": " + value + "\r\n";
    require(msg_header_add_str(msg, reinterpret_cast<msg_pub_t*>(sip), line_text.c_str()) == 0,
            "cannot add header " + name);
  }
  if (!request.content_type.empty()) {
    require(is_single_line(request.content_type), "Content-Type spans lines");
    sip_content_type_t* type = sip_content_type_make(home, request.content_type.c_str());
    require(type != nullptr, "not a Content-Type: " + request.content_type);
    insert(msg, type);
  }
  if (!request.body.empty()) {
    // Any octets: the payload is a length, never a C string.
    sip_payload_t* body = sip_payload_create(home, request.body.data(), request.body.size());
    require(body != nullptr, "cannot copy the body");
    insert(msg, body);
  }
}

// A response for a request nta could not take at all: its status line and
// the request's From, To, Call-ID and CSeq, so the view reads like nta's own.
msg_t* local_response(nta_agent_t* agent, msg_t* request, int status, const char* phrase) {
  msg_t* msg = nta_msg_create(agent, 0);
  if (!msg) return nullptr;
  su_home_t* home = msg_home(msg);
  const sip_t* asked = request ? sip_object(request) : nullptr;
  insert(msg, sip_status_create(home, status, phrase, nullptr));
  if (asked) {
    for (const auto* header : {reinterpret_cast<const msg_header_t*>(asked->sip_from),
                               reinterpret_cast<const msg_header_t*>(asked->sip_to),
                               reinterpret_cast<const msg_header_t*>(asked->sip_call_id),
                               reinterpret_cast<const msg_header_t*>(asked->sip_cseq)})
      if (header) insert(msg, msg_header_dup(home, header));
  }
  return msg;
}

class NtaClientTransaction final : public ClientTransaction {
 public:
  explicit NtaClientTransaction(std::shared_ptr<NtaSipClient::Pending> pending)
      : pending_(std::move(pending)) {}
  ~NtaClientTransaction() override;
  std::string_view call_id() const override;
  uint32_t cseq() const override;

 private:
  std::shared_ptr<NtaSipClient::Pending> pending_;
};

}  // namespace

int NtaSipClient::Pending::on_response(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, const sip_t* sip) {
  const int status = nta_outgoing_status(orq);
  if (status < 200) return 0;  // provisional responses are not delivered
  auto* pending = reinterpret_cast<Pending*>(magic);
  // Our own reference: the message outlives the transaction destroyed below.
  msg_t* msg = nta_outgoing_getresponse(orq);
  // nta made the message itself (timeout, no transport) or, without
  // NTATAG_TIMEOUT_408, made none: either way no peer answered.
  const bool local = !msg || nta_is_internal_msg(msg);
  if (local && status != 408 && status != 503) {
    // The SDK promises 408 or 503 for a request nobody answered; nta also
    // says 416 (sips: without TLS) or 400 for what it cannot send. Its
    // phrase says why.
    const sip_t* made = msg ? sip_object(msg) : nullptr;
    const char* why = made && made->sip_status ? made->sip_status->st_phrase : "Cannot Send";
    msg_t* request = nta_outgoing_getrequest(orq);
    msg_t* unavailable = local_response(pending->client->agent_, request, 503, why);
    if (request) msg_destroy(request);
    if (msg) msg_destroy(msg);
    msg = unavailable;
  } else if (!msg) {
    msg_t* request = nta_outgoing_getrequest(orq);
    msg = local_response(pending->client->agent_, request, status, "Request Timeout");
    if (request) msg_destroy(request);
  }
  // A non-INVITE transaction finishes its timer K on its own after this.
  nta_outgoing_destroy(orq);
  pending->orq = nullptr;
  pending->deliver(msg, msg ? sip_object(msg) : sip, local);
  if (msg) msg_destroy(msg);
  return 0;
}

void NtaSipClient::Pending::deliver(msg_t* msg, const sip_t* sip, bool local) {
  if (client) client->forget(this);
  auto log = client ? client->log_ : nullptr;
  client = nullptr;
  if (!caller) return call_back(msg, sip, local, log);
  if (cancelled) return;
  // The message goes with the task (a reference of its own). Its count is a
  // plain integer (the home is not thread-safe) that nta and this thread
  // change: the reference is taken here and given back here too, so the
  // caller's loop only reads the message.
  std::shared_ptr<msg_t> kept(msg ? msg_ref_create(msg) : nullptr, [main = main_loop](msg_t* m) {
    if (m) main->post([m] { msg_destroy(m); });  // dropped (a leak) only once the main loop is gone
  });
  caller->post([self = shared_from_this(), kept, sip = kept ? sip_object(kept.get()) : sip, local, log] {
    self->call_back(kept.get(), sip, local, log);
  });
}

void NtaSipClient::Pending::call_back(msg_t* msg, const sip_t* sip, bool local,
                                      const std::shared_ptr<spdlog::logger>& log) {
  if (cancelled) return;
  // Moved out: the callback may destroy its ClientTransaction, and with it this.
  ResponseDone callback = std::move(done);
  done = nullptr;
  if (!callback) return;
  const SofiaResponse response(msg, sip, local);
  try {
    callback(response);
  } catch (const std::exception& e) {
    if (log) log->error("a response callback threw: {}", e.what());
  } catch (...) {
    if (log) log->error("a response callback threw");
  }
}

void NtaSipClient::Pending::cancel() {
  cancelled = true;
  done = nullptr;
  if (!caller) return end_transaction();
  // The transaction is nta's, on the main loop; it may not have started yet.
  main_loop->post([self = shared_from_this()] { self->end_transaction(); });
}

void NtaSipClient::Pending::end_transaction() {
  if (!client) return;
  // nta ends the transaction by itself, calling nobody.
  if (orq) nta_outgoing_destroy(orq);
  orq = nullptr;
  client->forget(this);
  client = nullptr;
}

NtaClientTransaction::~NtaClientTransaction() { pending_->cancel(); }

std::string_view NtaClientTransaction::call_id() const { return pending_->call_id; }
uint32_t NtaClientTransaction::cseq() const { return pending_->cseq; }

NtaSipClient::NtaSipClient(nta_agent_s* agent, SofiaEventLoop& loop, std::string default_from,
                           std::shared_ptr<spdlog::logger> log)
    : agent_(agent), loop_(loop), default_from_(std::move(default_from)), log_(std::move(log)) {}

NtaSipClient::~NtaSipClient() {
  *alive_ = false;
  for (Pending* pending : outstanding_) {
    if (pending->orq) nta_outgoing_destroy(pending->orq);
    pending->orq = nullptr;
    pending->client = nullptr;
    if (!pending->caller) pending->done = nullptr;  // another loop's is that loop's to drop
  }
  outstanding_.clear();
}

std::unique_ptr<ClientTransaction> NtaSipClient::send(const OutgoingRequest& request, ResponseDone done) {
  // The agent is the main loop's: another loop's request is built on its own
  // thread, started by the main loop, and its answer posted back.
  EventLoop* caller = nullptr;
  if (!loop_.on_loop_thread()) {
    caller = SofiaEventLoop::current();
    if (!caller) throw std::logic_error("SipClient::send off every loop thread");
  }
  require(is_token(request.method), "not a SIP method: '" + request.method + "'");
  const auto target = parse_uri(request.request_uri);
  require(target.has_value() && is_single_line(request.request_uri), "not a SIP URI: " + request.request_uri);
  require(request.next_hop.empty() || parse_uri(request.next_hop).has_value(),
          "not a SIP URI: " + request.next_hop);

  // nta_msg_create only reads what the agent was made with: safe from any thread.
  MessagePtr msg(nta_msg_create(agent_, 0), &msg_destroy);
  if (!msg) throw std::bad_alloc();
  build_request(agent_, msg.get(), request, *target, default_from_, caller == nullptr);
  const sip_t* sip = sip_object(msg.get());

  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  pending->caller = caller;
  pending->main_loop = &loop_;
  pending->call_id = sip->sip_call_id->i_id;
  pending->cseq = sip->sip_cseq->cs_seq;
  if (!caller) {
    start(pending, std::move(msg), request.next_hop);
  } else {
    auto handed = std::make_shared<MessagePtr>(std::move(msg));  // freed with the task if it never runs
    loop_.post([this, alive = std::weak_ptr<bool>(alive_), pending, handed, route = request.next_hop] {
      const auto client = alive.lock();
      if (client && *client && !pending->cancelled) start(pending, std::move(*handed), route);
    });
  }
  return std::make_unique<NtaClientTransaction>(std::move(pending));
}

void NtaSipClient::start(const std::shared_ptr<Pending>& pending, MessagePtr msg,
                         const std::string& next_hop) {
  pending->client = this;
  outstanding_.insert(pending.get());
  // nta picks the transport from next_hop, else the Request-URI (sips:,
  // ;transport=, then DNS NAPTR/SRV/A for a name), and runs the transaction.
  const url_string_t* route = next_hop.empty() ? nullptr : URL_STRING_MAKE(next_hop.c_str());
  pending->orq = nta_outgoing_mcreate(agent_, &Pending::on_response,
                                      reinterpret_cast<nta_outgoing_magic_t*>(pending.get()), route,
                                      msg.get(), TAG_END());
  if (pending->orq)
    msg.release();  // nta owns the request now
  else
    fail_later(pending, msg.get(), "nta refused the request");
}

// A request nta would not take still gets its answer later, on the loop, as
// a network failure would: callers never see their callback run inside send().
void NtaSipClient::fail_later(const std::shared_ptr<Pending>& pending, msg_s* request, const char* why) {
  log_->warn("{} {}: {}", pending->call_id, pending->cseq, why);
  std::shared_ptr<msg_t> response(local_response(agent_, request, 503, "Service Unavailable"),
                                  [](msg_t* msg) { msg_destroy(msg); });
  loop_.post([weak = std::weak_ptr<Pending>(pending), response] {
    const auto alive = weak.lock();
    if (alive && alive->client)
      alive->deliver(response.get(), response ? sip_object(response.get()) : nullptr, true);
  });
}

}  // namespace homesip::core
