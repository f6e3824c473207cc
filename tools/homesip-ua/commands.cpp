#include "commands.hpp"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/soa_tag.h>

#include <cstdio>
#include <set>

#include "appliances.hpp"
#include "phone_setup.hpp"

namespace homesip::ua {
namespace {

std::vector<std::string> tree_labels(const Options& o) {
  auto labels = domain_labels(o.aor);
  const auto callee = domain_labels(o.to);
  labels.insert(labels.end(), callee.begin(), callee.end());
  return labels;
}

int failure_code(int status) { return status == 483 ? kExitRedirects : kExitFailed; }

// register (and the registration half of answer): REGISTER at the top server,
// follow each 302 to the server its Contact names, stay bound at the family
// server (nua refreshes the binding there before it expires).
class RegisterCommand : public Terminal {
 public:
  using Terminal::Terminal;

 protected:
  void start() override { begin_chain(); }

  void on_event(const Event& e) override {
    const bool mine = nh_ && e.nh == nh_;
    if (mine && (e.id == nua_r_register || e.id == nua_r_unregister)) return on_response(e);
    on_other(e);
  }

  virtual void on_other(const Event&) {}

  virtual void on_registered() {
    if (options().once) {
      // Leave the binding in place until it expires: no nua_shutdown.
      return abandon(kExitOk);
    }
    say("refreshing with " + where_ + " until SIGTERM/SIGINT");
  }

  void on_stop_signal() override { stop_registration(kExitOk); }

  // Unregisters at the family server, then exits with `code`.
  void stop_registration(int code) {
    if (stopping_) return;  // the first reason to stop wins
    stop_code_ = code;
    if (!registered_) return finish(code);
    stopping_ = true;
    nua_unregister(nh_, TAG_END());
  }

 private:
  void begin_chain() {
    registered_ = false;
    expires_ = options().expires;
    chain_ = std::make_unique<RedirectChain>(options().server, options().max_redirects,
                                             domain_labels(options().aor));
    forget_credentials();
    send(options().server);
  }

  void send(const std::string& target) {
    if (nh_) nua_handle_destroy(nh_);
    nh_ = nullptr;
    const Hop hop = register_hop(target);
    where_ = target;
    if (tls_refused(hop.request_uri)) return;
    const std::string aor = options().aor;
    nh_ = nua_handle(nua(), nullptr, SIPTAG_TO_STR(aor.c_str()), SIPTAG_FROM_STR(aor.c_str()), TAG_END());
    issue();
  }

  // The REGISTER (or un-REGISTER) on the current handle; again after a
  // challenge, with its answer: same Call-ID, next CSeq (RFC 3261 22.2).
  void issue() {
    const Hop hop = register_hop(where_);
    const std::string aor = options().aor;
    const std::string mf = std::to_string(chain_->max_forwards());
    const std::string user = user_of(aor);
    const std::string contact = contact_for_request(user);
    // stopping_: our un-REGISTER, sent again here with the answer to its challenge.
    const bool removing = options().unregister || stopping_;
    const auto request = removing ? &nua_unregister : &nua_register;
    const std::string expires = removing ? "0" : std::to_string(expires_);
    request(nh_, NUTAG_REGISTRAR(hop.request_uri.c_str()), SIPTAG_EXPIRES_STR(expires.c_str()),
            SIPTAG_MAX_FORWARDS_STR(mf.c_str()),
            TAG_IF(!contact.empty(), SIPTAG_CONTACT_STR(contact.c_str())),
            TAG_IF(contact.empty(), NUTAG_M_USERNAME(user.c_str())), TAG_NEXT(credential_tags()));
  }

  // --unregister from a new process cannot know the port an earlier one had:
  // without --contact or a fixed --listen port it removes every binding (*).
  std::string contact_for_request(const std::string& user) const {
    const std::string& listen = options().listen;
    const bool any_port = listen.find(":0;") != std::string::npos;
    if (options().unregister && options().contact.empty() && any_port) return "*";
    return options().contact.empty() ? listen_contact(user) : options().contact;
  }

  void on_response(const Event& e) {
    if (e.status < 200) return;
    const std::string line = response_line("REGISTER", options().aor, where_, e);
    if (e.status >= 300 && e.status < 400 && !registered_) return follow(e, line);
    say(line);
    // Same handle and server (nua gives a REGISTER after a failed one a new Call-ID).
    if (retry_after_busy(e, [this] { issue(); })) return;
    switch (answer_challenge(e, "REGISTER", register_hop(where_).request_uri)) {
      case Challenge::kAnswered:
        // The un-REGISTER goes on a new handle: on this one nua would add our
        // answer next to the registration's replayed one.
        return stopping_ ? send(where_) : issue();
      case Challenge::kFailed:
        return finish(kExitFailed);
      case Challenge::kNone:
        break;
    }
    if (e.status == 423 && e.sip && e.sip->sip_min_expires && expires_ < e.sip->sip_min_expires->me_delta) {
      // RFC 3261 10.2.8: ask again, same server, for the interval it allows.
      expires_ = static_cast<unsigned>(e.sip->sip_min_expires->me_delta);
      say("retrying with Expires: " + std::to_string(expires_));
      return send(where_);
    }
    if (e.status >= 300) return on_failure(e.status);
    // nua repeats this request's Authorization in its refreshes and in the
    // un-REGISTER; the server challenges that replay (nc): a new challenge,
    // to answer, not a refusal of the password.
    forget_credentials();
    if (e.id == nua_r_unregister) {
      say("unregistered " + options().aor + " at " + where_);
      return finish(stopping_ ? stop_code_ : kExitOk);
    }
    if (registered_) return say("refreshed " + options().aor + " at " + where_);
    registered_ = true;
    say("registered " + options().aor + " at " + where_ + " after " + std::to_string(chain_->redirects()) +
        " redirect(s)");
    on_registered();
  }

  void follow(const Event& e, const std::string& line) {
    std::string next;
    const auto verdict = chain_->follow(contacts_of(e.sip), &next);
    say(line + (next.empty() ? "" : " -> " + next));
    if (verdict != RedirectChain::Verdict::kFollow)
      return finish(redirect_failure(verdict, next, options().max_redirects));
    forget_credentials();
    send(next);
  }

  void on_failure(int status) {
    if (registered_ && !stopping_) {
      // The family server lost us or moved: start again from the top.
      say("refresh failed; registering again through " + options().server);
      registered_ = false;
      return after(1, [this] { begin_chain(); });
    }
    finish(failure_code(status));
  }

  std::unique_ptr<RedirectChain> chain_;
  nua_handle_t* nh_ = nullptr;
  std::string where_;
  unsigned expires_ = 0;
  bool registered_ = false;
  bool stopping_ = false;
  int stop_code_ = kExitOk;
};

// answer: registered like `register`, auto-answers INVITE with 200 + SDP and
// MESSAGE with 200 + a short body; exits after --calls completed calls.
class AnswerCommand : public RegisterCommand {
 public:
  using RegisterCommand::RegisterCommand;

 protected:
  void on_registered() override {
    say("waiting for calls");
    if (options().timeout > 0)
      after(options().timeout, [this] {
        say("timeout: " + std::to_string(completed_) + " of " + std::to_string(options().calls) + " call(s)");
        stop_registration(kExitFailed);
      });
  }

  void on_other(const Event& e) override {
    switch (e.id) {
      case nua_i_invite:
        return on_invite(e);
      case nua_i_ack:
        return say("ACK received");
      case nua_i_bye:
        return say("BYE received: 200 OK");
      case nua_i_message:
        return on_message(e);
      case nua_i_state:
        return on_state(e);
      default:
        return;
    }
  }

 private:
  static std::string from_of(const Event& e) {
    char buffer[512] = "";
    if (e.sip && e.sip->sip_from) url_e(buffer, sizeof buffer, e.sip->sip_from->a_url);
    return buffer;
  }

  void on_invite(const Event& e) {
    say("INVITE from " + from_of(e) + ": answering 200 OK");
    nua_respond(e.nh, SIP_200_OK, SOATAG_USER_SDP_STR(sdp().c_str()), TAG_END());
  }

  void on_message(const Event& e) {
    const std::string text = body_of(e.sip);
    say("MESSAGE from " + from_of(e) + ": " + text);
    const std::string reply = "received: " + text;
    nua_respond(e.nh, SIP_200_OK, NUTAG_WITH_THIS(nua()), SIPTAG_CONTENT_TYPE_STR("text/plain"),
                SIPTAG_PAYLOAD_STR(reply.c_str()), TAG_END());
    nua_handle_destroy(e.nh);
  }

  void on_state(const Event& e) {
    int state = nua_callstate_init;
    tl_gets(e.tags, NUTAG_CALLSTATE_REF(state), TAG_END());
    if (state == nua_callstate_ready) established_.insert(e.nh);
    if (state != nua_callstate_terminated) return;
    const bool was_up = established_.erase(e.nh) > 0;
    nua_handle_destroy(e.nh);
    if (!was_up) return;
    say("call " + std::to_string(++completed_) + " completed");
    if (options().calls > 0 && completed_ >= options().calls) stop_registration(kExitOk);
  }

  std::set<nua_handle_t*> established_;
  int completed_ = 0;
};

// call and message: a request to the callee's AOR, sent first to --server,
// then wherever each 302 points (redirects.hpp decides Request-URI and hop).
class RedirectedRequest : public Terminal {
 public:
  RedirectedRequest(const Options& o, std::string method) : Terminal(o), method_(std::move(method)) {}

 protected:
  void start() override {
    chain_ =
        std::make_unique<RedirectChain>(options().server, options().max_redirects, tree_labels(options()));
    send(Hop{options().to, options().server, options().server});
  }

  // `proxy`: where to send it instead of the Request-URI ("" for none).
  virtual void send_request(nua_handle_t* nh, const std::string& proxy, const std::string& max_forwards) = 0;
  virtual void on_success(const Event& e) = 0;
  virtual void on_dialog_event(const Event&) {}
  virtual nua_event_t response_event() const = 0;

  void on_event(const Event& e) override {
    if (e.nh != nh_) return;
    if (e.id != response_event()) return on_dialog_event(e);
    const std::string line = response_line(method_, options().to, where_, e);
    if (e.status >= 300 && e.status < 400) return follow(e, line);
    say(line);
    if (retry_after_busy(e,
                         [this] { send_request(nh_, hop_.proxy, std::to_string(chain_->max_forwards())); }))
      return;
    switch (answer_challenge(e, method_, hop_.request_uri)) {
      case Challenge::kAnswered:  // same handle: same Call-ID, next CSeq (RFC 3261 22.2)
        return send_request(nh_, hop_.proxy, std::to_string(chain_->max_forwards()));
      case Challenge::kFailed:
        return finish(kExitFailed);
      case Challenge::kNone:
        break;
    }
    if (e.status >= 300) return on_failure(e);
    if (e.status >= 200) on_success(e);
  }

  virtual void on_failure(const Event& e) { finish(failure_code(e.status)); }

  nua_handle_t* handle() const { return nh_; }
  const std::string& where() const { return where_; }

 private:
  void send(const Hop& hop) {
    if (nh_) nua_handle_destroy(nh_);
    nh_ = nullptr;
    hop_ = hop;
    where_ = hop.shown;
    if (tls_refused(hop.proxy.empty() ? hop.request_uri : hop.proxy)) return;
    nh_ = nua_handle(nua(), nullptr, NUTAG_URL(hop.request_uri.c_str()), SIPTAG_TO_STR(options().to.c_str()),
                     SIPTAG_FROM_STR(options().aor.c_str()), TAG_END());
    send_request(nh_, hop.proxy, std::to_string(chain_->max_forwards()));
  }

  void follow(const Event& e, const std::string& line) {
    std::string next;
    const auto verdict = chain_->follow(contacts_of(e.sip), &next);
    say(line + (next.empty() ? "" : " -> " + next));
    if (verdict != RedirectChain::Verdict::kFollow)
      return finish(redirect_failure(verdict, next, options().max_redirects));
    forget_credentials();
    send(request_hop(*chain_, options().to, next));
  }

  std::string method_;
  std::unique_ptr<RedirectChain> chain_;
  nua_handle_t* nh_ = nullptr;
  Hop hop_;  // where the request went last: a challenge's answer goes there again
  std::string where_;
};

class CallCommand : public RedirectedRequest {
 public:
  explicit CallCommand(const Options& o) : RedirectedRequest(o, "INVITE") {}

 protected:
  nua_event_t response_event() const override { return nua_r_invite; }

  void send_request(nua_handle_t* nh, const std::string& proxy, const std::string& max_forwards) override {
    nua_invite(nh, TAG_IF(!proxy.empty(), NUTAG_PROXY(proxy.c_str())), SOATAG_USER_SDP_STR(sdp().c_str()),
               SIPTAG_MAX_FORWARDS_STR(max_forwards.c_str()),
               NUTAG_M_USERNAME(user_of(options().aor).c_str()), TAG_NEXT(credential_tags()));
  }

  void on_success(const Event&) override {
    if (answered_) return;
    answered_ = true;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", options().duration);
    say(std::string("ACK sent; hanging up in ") + seconds + " s");
    after(options().duration, [this] { nua_bye(handle(), TAG_END()); });
  }

  void on_dialog_event(const Event& e) override {
    if (e.id == nua_r_bye && e.status >= 200) {
      say(response_line("BYE", options().to, where(), e));
      finish(e.status < 300 ? kExitOk : kExitFailed);
    } else if (e.id == nua_i_bye) {
      say("callee hung up (BYE received)");
      finish(kExitOk);
    }
  }

 private:
  bool answered_ = false;
};

class MessageCommand : public RedirectedRequest {
 public:
  explicit MessageCommand(const Options& o) : RedirectedRequest(o, "MESSAGE") {}

 protected:
  nua_event_t response_event() const override { return nua_r_message; }

  void send_request(nua_handle_t* nh, const std::string& proxy, const std::string& max_forwards) override {
    nua_message(nh, TAG_IF(!proxy.empty(), NUTAG_PROXY(proxy.c_str())), SIPTAG_CONTENT_TYPE_STR("text/plain"),
                SIPTAG_PAYLOAD_STR(options().text.c_str()), SIPTAG_MAX_FORWARDS_STR(max_forwards.c_str()),
                TAG_NEXT(credential_tags()));
  }

  void on_success(const Event& e) override {
    const std::string body = body_of(e.sip);
    say("reply: " + (body.empty() ? std::string("(no body)") : body));
    finish(kExitOk);
  }
};

// control and state: a MESSAGE with a JSON body to the entity, through the
// tree like a message to a user; prints the state the 200 carries, or the
// JSON error of a refusal.
class ControlCommand : public RedirectedRequest {
 public:
  explicit ControlCommand(const Options& o) : RedirectedRequest(o, "MESSAGE"), body_(request_body(o)) {}

 protected:
  nua_event_t response_event() const override { return nua_r_message; }

  void send_request(nua_handle_t* nh, const std::string& proxy, const std::string& max_forwards) override {
    nua_message(nh, TAG_IF(!proxy.empty(), NUTAG_PROXY(proxy.c_str())),
                SIPTAG_CONTENT_TYPE_STR("application/json"), SIPTAG_ACCEPT_STR("application/json"),
                SIPTAG_PAYLOAD_STR(body_.c_str()), SIPTAG_MAX_FORWARDS_STR(max_forwards.c_str()),
                TAG_NEXT(credential_tags()));
  }

  void on_success(const Event& e) override {
    print(options().json ? compact_json(body_of(e.sip)) : state_line(body_of(e.sip)));
    finish(kExitOk);
  }

  void on_failure(const Event& e) override {
    const std::string body = body_of(e.sip);
    if (!body.empty()) print(compact_json(body));
    finish(appliance_exit_code(e.status));
  }

 private:
  // {"service": ..., "data": {...}} for control; {} reads the state.
  static std::string request_body(const Options& o) {
    if (o.command == Command::kState) return "{}";
    return R"({"service":)" + json_string(o.service) + R"(,"data":)" + o.data_json + "}";
  }

  const std::string body_;
};

// locate: OPTIONS with the AOR as Request-URI, from the top server down, as
// a call would go: a 302 to a server is followed (AOR kept, sent to that
// server), and the server whose 302 names the user's own contacts is the
// family server. Prints it, the contacts and how to set up a phone there.
class LocateCommand : public Terminal {
 public:
  using Terminal::Terminal;

 protected:
  void start() override {
    chain_ = std::make_unique<RedirectChain>(options().server, options().max_redirects,
                                             domain_labels(options().to));
    send(Hop{options().to, options().server, options().server});
  }

  void on_event(const Event& e) override {
    if (e.nh != nh_ || e.id != nua_r_options || e.status < 200) return;
    const std::string line = response_line("OPTIONS", options().to, where_, e);
    const auto contacts = contacts_of(e.sip);
    const bool to_server = !contacts.empty() && chain_->is_server_hop(best_of(contacts));
    if (e.status >= 300 && e.status < 400 && to_server) return follow(contacts, line);
    say(line);
    if (retry_after_busy(e, [this] { query(); })) return;
    switch (answer_challenge(e, "OPTIONS", hop_.request_uri)) {
      case Challenge::kAnswered:  // same handle: same Call-ID, next CSeq (RFC 3261 22.2)
        return query();
      case Challenge::kFailed:
        return finish(kExitFailed);
      case Challenge::kNone:
        break;
    }
    if (e.status >= 300 && e.status < 400) return found(contacts, kExitOk);
    // 480: the family server answered, the user has no phone registered now.
    if (e.status == 480) return found({}, kExitFailed);
    if (e.status >= 200 && e.status < 300) {
      say(options().to + " answered itself: a server of the tree, at " + without_user(where_));
      return finish(kExitOk);
    }
    finish(failure_code(e.status));
  }

 private:
  static std::string best_of(const std::vector<ContactChoice>& contacts) {
    const ContactChoice* best = &contacts.front();
    for (const auto& c : contacts)
      if (c.q > best->q) best = &c;
    return best->uri;
  }

  void send(const Hop& hop) {
    if (nh_) nua_handle_destroy(nh_);
    nh_ = nullptr;
    hop_ = hop;
    where_ = hop.shown;
    if (tls_refused(hop.proxy.empty() ? hop.request_uri : hop.proxy)) return;
    nh_ = nua_handle(nua(), nullptr, NUTAG_URL(hop.request_uri.c_str()), SIPTAG_TO_STR(options().to.c_str()),
                     SIPTAG_FROM_STR(options().aor.c_str()), TAG_END());
    query();
  }

  void query() {
    const std::string max_forwards = std::to_string(chain_->max_forwards());
    nua_options(nh_, TAG_IF(!hop_.proxy.empty(), NUTAG_PROXY(hop_.proxy.c_str())),
                SIPTAG_MAX_FORWARDS_STR(max_forwards.c_str()), TAG_NEXT(credential_tags()));
  }

  void follow(const std::vector<ContactChoice>& contacts, const std::string& line) {
    std::string next;
    const auto verdict = chain_->follow(contacts, &next);
    say(line + (next.empty() ? "" : " -> " + next));
    if (verdict != RedirectChain::Verdict::kFollow)
      return finish(redirect_failure(verdict, next, options().max_redirects));
    forget_credentials();
    send(request_hop(*chain_, options().to, next));
  }

  void found(const std::vector<ContactChoice>& contacts, int code) {
    const std::string family = without_user(where_);
    say("family server: " + family);
    if (contacts.empty()) say("contacts: none (no phone registered now)");
    for (const auto& c : contacts) say("contact: " + c.uri);
    say("baresip account: " + baresip_account(options().to, family));
    say("linphone [proxy_0]:");
    std::string settings = linphone_settings(options().to, family);
    for (size_t end; (end = settings.find('\n')) != std::string::npos; settings.erase(0, end + 1))
      say("  " + settings.substr(0, end));
    finish(code);
  }

  std::unique_ptr<RedirectChain> chain_;
  nua_handle_t* nh_ = nullptr;
  Hop hop_;
  std::string where_;
};

}  // namespace

std::unique_ptr<Terminal> make_command(const Options& options) {
  switch (options.command) {
    case Command::kRegister:
      return std::make_unique<RegisterCommand>(options);
    case Command::kAnswer:
      return std::make_unique<AnswerCommand>(options);
    case Command::kCall:
      return std::make_unique<CallCommand>(options);
    case Command::kMessage:
      return std::make_unique<MessageCommand>(options);
    case Command::kLocate:
      return std::make_unique<LocateCommand>(options);
    case Command::kControl:
    case Command::kState:
      return std::make_unique<ControlCommand>(options);
    case Command::kWatch:
      return make_watch_command(options);
  }
  return nullptr;
}

}  // namespace homesip::ua
