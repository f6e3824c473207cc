#include "appliances.hpp"

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>

#include <nlohmann/json.hpp>
#include <vector>

namespace homesip::ua {

std::string state_line(const std::string& body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("entity_id") || !json.contains("state")) return compact_json(body);
  nlohmann::json attributes = json.value("attributes", nlohmann::json::object());
  if (attributes.is_object()) attributes.erase("friendly_name");
  const auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  return text(json["entity_id"]) + " " + text(json["state"]) + " " + attributes.dump();
}

std::string compact_json(const std::string& body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  return json.is_discarded() ? body : json.dump();
}

std::string json_string(const std::string& text) { return nlohmann::json(text).dump(); }

int appliance_exit_code(int status) {
  if (status == 408 || status == 483 || status >= 500) return kExitUnreachable;
  return kExitFailed;
}

namespace {

// watch: one SUBSCRIBE (Event: homesip-entity) per entity, each following
// the tree's 302s and answering challenges on its own; nua refreshes them
// before they expire and answers each NOTIFY, which becomes one line. A
// subscription the server ends (it restarted: reason=deactivated) or loses
// is made again from the top. SIGTERM/SIGINT unsubscribes (Expires: 0).
class WatchCommand : public Terminal {
 public:
  explicit WatchCommand(const Options& o) : Terminal(o) {
    subscriptions_.resize(o.entities.size());  // never resized again: timers keep pointers
    for (size_t i = 0; i < o.entities.size(); ++i) subscriptions_[i].entity = o.entities[i];
  }

 protected:
  void start() override {
    for (auto& s : subscriptions_) begin(s);
  }

  void on_event(const Event& e) override {
    Subscription* s = owner_of(e.nh);
    if (!s) return;
    if (e.id == nua_i_notify) return on_notify(*s, e);
    if (e.id == nua_r_subscribe) return on_subscribe_response(*s, e);
    if (e.id == nua_r_unsubscribe && e.status >= 200) return on_unsubscribed(*s, e);
  }

  void on_stop_signal() override {
    stopping_ = true;
    for (auto& s : subscriptions_)
      if (s.active)
        unsubscribe(s);
      else
        s.ended = true;
    after(3, [this] { finish(kExitOk); });  // a server that does not answer must not keep us
    finish_when_all_ended();
  }

 private:
  struct Subscription {
    std::string entity;
    std::unique_ptr<RedirectChain> chain;
    nua_handle_t* nh = nullptr;
    Hop hop;
    std::string where;
    Credentials credentials;
    bool active = false;       // the last SUBSCRIBE got its 2xx
    bool ever_active = false;  // a refusal after that is retried, not fatal
    bool ended = false;        // unsubscribed (stopping)
    // The Contact of the 2xx (or of a NOTIFY since): where the refreshes and
    // the unsubscribe go, so the Request-URI their digest answers name.
    std::string remote_target;
  };

  Subscription* owner_of(nua_handle_t* nh) {
    for (auto& s : subscriptions_)
      if (nh && s.nh == nh) return &s;
    return nullptr;
  }

  void begin(Subscription& s) {
    auto labels = domain_labels(options().aor);
    const auto entity_labels = domain_labels(s.entity);
    labels.insert(labels.end(), entity_labels.begin(), entity_labels.end());
    s.chain = std::make_unique<RedirectChain>(options().server, options().max_redirects, labels);
    s.credentials = Credentials{};
    s.active = false;
    s.remote_target.clear();
    send(s, Hop{s.entity, options().server, options().server});
  }

  void send(Subscription& s, const Hop& hop) {
    if (s.nh) nua_handle_destroy(s.nh);
    s.nh = nullptr;
    s.hop = hop;
    s.where = hop.shown;
    if (tls_refused(hop.proxy.empty() ? hop.request_uri : hop.proxy)) return;
    s.nh = nua_handle(nua(), nullptr, NUTAG_URL(hop.request_uri.c_str()), SIPTAG_TO_STR(s.entity.c_str()),
                      SIPTAG_FROM_STR(options().aor.c_str()), TAG_END());
    subscribe(s);
  }

  // The Contact, where the NOTIFYs come, is the --listen address as REGISTER's
  // (listen_contact): with --ca, nua's own would name the TLS transport the
  // SUBSCRIBE left on, which takes no requests.
  void subscribe(Subscription& s) {
    const std::string expires = std::to_string(options().expires);
    const std::string max_forwards = std::to_string(s.chain->max_forwards());
    const std::string user = user_of(options().aor);
    const std::string contact = listen_contact(user);
    std::swap(credentials(), s.credentials);
    nua_subscribe(s.nh, TAG_IF(!s.hop.proxy.empty(), NUTAG_PROXY(s.hop.proxy.c_str())),
                  SIPTAG_EVENT_STR("homesip-entity"), SIPTAG_ACCEPT_STR("application/json"),
                  SIPTAG_EXPIRES_STR(expires.c_str()), SIPTAG_MAX_FORWARDS_STR(max_forwards.c_str()),
                  TAG_IF(!contact.empty(), SIPTAG_CONTACT_STR(contact.c_str())),
                  TAG_IF(contact.empty(), NUTAG_M_USERNAME(user.c_str())), TAG_NEXT(credential_tags()));
    std::swap(credentials(), s.credentials);
  }

  void unsubscribe(Subscription& s) {
    std::swap(credentials(), s.credentials);
    nua_unsubscribe(s.nh, SIPTAG_EVENT_STR("homesip-entity"), SIPTAG_EXPIRES_STR("0"),
                    TAG_NEXT(credential_tags()));
    std::swap(credentials(), s.credentials);
  }

  // A challenge to `method` answered with this subscription's own credentials,
  // for the Request-URI the challenged request had: inside the dialog (a
  // refresh, the unsubscribe) the remote target, not the first hop's.
  Challenge answer(Subscription& s, const Event& e, const char* method) {
    std::swap(credentials(), s.credentials);
    const bool in_dialog = s.active && !s.remote_target.empty();
    const Challenge c = answer_challenge(e, method, in_dialog ? s.remote_target : s.hop.request_uri);
    std::swap(credentials(), s.credentials);
    return c;
  }

  // A 503 with Retry-After: the subscription's own answers are the ones a retry forgets.
  bool retry_later(Subscription& s, const Event& e) {
    Subscription* target = &s;
    std::swap(credentials(), s.credentials);
    const bool retrying = retry_after_busy(e, [this, target] { subscribe(*target); });
    std::swap(credentials(), s.credentials);
    return retrying;
  }

  void on_subscribe_response(Subscription& s, const Event& e) {
    if (e.status < 200) return;
    const std::string line = response_line("SUBSCRIBE", s.entity, s.where, e);
    if (e.status >= 300 && e.status < 400 && !s.active) return follow(s, e, line);
    say(line);
    if (!stopping_ && retry_later(s, e)) return;
    switch (answer(s, e, "SUBSCRIBE")) {
      case Challenge::kAnswered:
        return subscribe(s);
      case Challenge::kFailed:
        return finish(kExitFailed);
      case Challenge::kNone:
        break;
    }
    if (e.status < 300) {
      s.credentials = Credentials{};  // a refresh's replayed answer is challenged anew
      if (const auto contacts = contacts_of(e.sip); !contacts.empty()) s.remote_target = contacts.front().uri;
      if (!s.active) say("watching " + s.entity + " at " + s.where);
      s.active = s.ever_active = true;
      return;
    }
    if (stopping_) {
      s.ended = true;
      return finish_when_all_ended();
    }
    if (!s.ever_active) {
      const std::string body = body_of(e.sip);
      if (!body.empty()) print(compact_json(body));
      return finish(appliance_exit_code(e.status));
    }
    lost(s, "its refresh got " + std::to_string(e.status));
  }

  void follow(Subscription& s, const Event& e, const std::string& line) {
    std::string next;
    const auto verdict = s.chain->follow(contacts_of(e.sip), &next);
    say(line + (next.empty() ? "" : " -> " + next));
    if (verdict != RedirectChain::Verdict::kFollow)
      return finish(redirect_failure(verdict, next, options().max_redirects));
    s.credentials = Credentials{};
    send(s, request_hop(*s.chain, s.entity, next));
  }

  void on_notify(Subscription& s, const Event& e) {
    const sip_subscription_state_t* state = e.sip ? e.sip->sip_subscription_state : nullptr;
    const bool terminated = state && state->ss_substate && std::string(state->ss_substate) == "terminated";
    if (const auto contacts = contacts_of(e.sip); !contacts.empty()) s.remote_target = contacts.front().uri;
    const std::string body = body_of(e.sip);
    if (!terminated && !body.empty()) print(options().json ? compact_json(body) : state_line(body));
    if (!terminated) return;
    const std::string reason = state->ss_reason ? state->ss_reason : "none";
    if (stopping_) {
      s.ended = true;
      return finish_when_all_ended();
    }
    lost(s, "the server ended it (reason=" + reason + ")");
  }

  void on_unsubscribed(Subscription& s, const Event& e) {
    say(response_line("SUBSCRIBE", s.entity, s.where, e));
    if (answer(s, e, "SUBSCRIBE") == Challenge::kAnswered) return unsubscribe(s);
    s.ended = true;
    finish_when_all_ended();
  }

  // RFC 6665 4.1.3: a subscription that ended without our asking is made
  // again, from the top (the family server may have moved).
  void lost(Subscription& s, const std::string& why) {
    if (!s.active && s.nh == nullptr) return;
    say("subscription to " + s.entity + " ended: " + why + "; subscribing again through " + options().server);
    s.active = false;
    if (s.nh) nua_handle_destroy(s.nh);
    s.nh = nullptr;
    Subscription* target = &s;
    after(1, [this, target] {
      if (!stopping_) begin(*target);
    });
  }

  void finish_when_all_ended() {
    for (const auto& s : subscriptions_)
      if (!s.ended) return;
    finish(kExitOk);
  }

  std::vector<Subscription> subscriptions_;
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<Terminal> make_watch_command(const Options& options) {
  return std::make_unique<WatchCommand>(options);
}

}  // namespace homesip::ua
