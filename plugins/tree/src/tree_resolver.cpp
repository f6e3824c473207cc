#include "tree_resolver.hpp"

#include <algorithm>
#include <cctype>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "homesip/tree.hpp"  // jurisdiction.hpp needs ServerIdentity
#include "homesip/uri.hpp"
#include "jurisdiction.hpp"

// The name rules live in homesip::redirect until the plugin's rename reaches
// them; declaring the namespace keeps this file compiling either way.
namespace homesip::redirect {}

namespace homesip::tree {

using namespace homesip::redirect;

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return uri_detail::iequals(a, b); }

// Two URIs name the same server when scheme, host and port agree (the user
// part is only the server's name).
bool same_server(const std::string& a, const std::string& b) {
  const auto x = parse_uri(a), y = parse_uri(b);
  return x && y && iequals(x->scheme, y->scheme) && iequals(x->host, y->host) &&
         x->port_number() == y->port_number();
}

// The SIP contacts of a response, in the order given ("best first").
std::vector<std::string> sip_contacts(const SipResponse& response) {
  std::vector<std::string> out;
  for (const ContactView& contact : response.contacts())
    if (!contact.wildcard && parse_uri(contact.uri)) out.push_back(contact.uri);
  return out;
}

Resolution failure(int status, std::string reason) {
  Resolution r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

// One resolve() in flight. Touched only on its own loop (the client calls
// back there), except while it sits in State::in_flight under the mutex.
struct Query {
  uint64_t id = 0;
  EventLoop* loop = nullptr;
  std::string aor;         // "U9@C1.D1.H1", as asked
  std::string domain;      // "C1.D1.H1", as asked
  std::string domain_key;  // lower case: the cache's key space
  std::function<void(const Resolution&)> done;
  Resolution result;  // path grows as servers are asked
  // The server asked now, and the length of the AOR's domain it serves
  // ("C1.D1" is the first 5 characters of "C1.D1.H1").
  std::string server;
  size_t served_length = 0;
  bool server_from_cache = false;
  bool restarted = false;  // at most one fresh start from the top
  int referrals = 0;
  std::unique_ptr<ClientTransaction> transaction;
};

}  // namespace

struct TreeResolver::State : std::enable_shared_from_this<State> {
  State(SipClient& c, ResolverSettings s, Logger& l) : client(c), settings(std::move(s)), log(l) {}

  SipClient& client;
  const ResolverSettings settings;
  Logger& log;

  struct CacheEntry {
    std::string domain_key;
    std::string server;
    int64_t expires_at = 0;  // unix seconds
  };
  mutable std::mutex mutex;
  bool alive = true;
  std::list<CacheEntry> lru;  // most recently used first
  std::unordered_map<std::string, std::list<CacheEntry>::iterator> by_domain;
  std::unordered_map<uint64_t, std::shared_ptr<Query>> in_flight;
  uint64_t next_id = 0;

  // Cache, under the mutex.
  std::optional<std::string> cached_server(const std::string& key, int64_t now) {
    const auto it = by_domain.find(key);
    if (it == by_domain.end()) return std::nullopt;
    if (it->second->expires_at <= now) {
      lru.erase(it->second);
      by_domain.erase(it);
      return std::nullopt;
    }
    lru.splice(lru.begin(), lru, it->second);
    return it->second->server;
  }

  void remember(const std::string& key, const std::string& server, int64_t now) {
    if (settings.cache_entries == 0) return;
    std::lock_guard lock(mutex);
    const int64_t expires_at = now + settings.cache_ttl.count();
    if (const auto it = by_domain.find(key); it != by_domain.end()) {
      it->second->server = server;
      it->second->expires_at = expires_at;
      lru.splice(lru.begin(), lru, it->second);
      return;
    }
    lru.push_front(CacheEntry{key, server, expires_at});
    by_domain[key] = lru.begin();
    while (lru.size() > settings.cache_entries) {
      by_domain.erase(lru.back().domain_key);
      lru.pop_back();
    }
  }

  void forget(const std::string& domain) {
    const std::string key = lower(domain);
    std::lock_guard lock(mutex);
    for (auto it = lru.begin(); it != lru.end();) {
      const std::string& d = it->domain_key;
      const bool below = d.size() > key.size() && d.compare(0, key.size(), key) == 0 && d[key.size()] == '.';
      if (d == key || below) {
        by_domain.erase(d);
        it = lru.erase(it);
      } else {
        ++it;
      }
    }
  }

  size_t top_length(const Query& q) const {
    if (!settings.top_domain.empty()) return settings.top_domain.size();
    // The top's child domain is always one label: the first of every name.
    return std::min(q.domain.find('.'), q.domain.size());
  }

  // Where a query starts: the deepest unexpired cached server for a prefix of
  // the AOR's domain (the family server itself on a second call), else the top.
  void choose_start(Query& q, bool use_cache) {
    const size_t top = top_length(q);
    q.server = settings.top;
    q.served_length = top;
    q.server_from_cache = false;
    if (!use_cache) return;
    const int64_t now = q.loop->unix_now();
    std::lock_guard lock(mutex);
    for (size_t length = q.domain_key.size(); length > top && length != std::string::npos;
         length = q.domain_key.rfind('.', length - 1)) {
      if (auto server = cached_server(q.domain_key.substr(0, length), now)) {
        q.server = std::move(*server);
        q.served_length = length;
        q.server_from_cache = true;
        return;
      }
    }
  }

  // Sends the OPTIONS for `q` to q.server. Returns the final answer when it
  // could not be sent; nothing while the query is in flight.
  std::optional<Resolution> ask(const std::shared_ptr<Query>& q) {
    const std::string served = q->domain.substr(0, q->served_length);
    q->result.path.push_back(served + "=" + q->server);
    log.debug("resolve ", q->aor, ": asking ", q->server, " (", served,
              q->server_from_cache ? ", cached" : "", ")");
    OutgoingRequest request("OPTIONS", "sip:" + q->aor);
    request.next_hop = q->server;
    request.from = settings.from;
    {
      std::lock_guard lock(mutex);
      in_flight[q->id] = q;
    }
    std::unique_ptr<ClientTransaction> transaction;
    try {
      transaction = client.send(request, [weak = weak_from_this(), id = q->id](const SipResponse& response) {
        if (const auto state = weak.lock()) state->on_response(id, response);
      });
    } catch (const std::invalid_argument& e) {
      std::lock_guard lock(mutex);
      in_flight.erase(q->id);
      log.debug("resolve ", q->aor, ": cannot ask ", q->server, ": ", e.what());
      return failure(502, "Bad Server Address");
    }
    std::lock_guard lock(mutex);
    // Still waiting (a client that answered at once has taken it out).
    if (in_flight.count(q->id)) q->transaction = std::move(transaction);
    return std::nullopt;
  }

  // The query starts (again) and asks its first server.
  std::optional<Resolution> start(const std::shared_ptr<Query>& q, bool use_cache) {
    choose_start(*q, use_cache);
    return ask(q);
  }

  void on_response(uint64_t id, const SipResponse& response) {
    std::shared_ptr<Query> q;
    {
      std::lock_guard lock(mutex);
      if (!alive) return;
      const auto it = in_flight.find(id);
      if (it == in_flight.end()) return;
      q = std::move(it->second);
      in_flight.erase(it);
    }
    std::optional<Resolution> answer = step(q, response);
    if (!answer) return;  // asked the next server
    answer->path = std::move(q->result.path);
    log.debug("resolve ", q->aor, ": ", answer->status, " ", answer->reason);
    q->done(*answer);
  }

  // What one server's answer means: the end, or the next server to ask.
  std::optional<Resolution> step(const std::shared_ptr<Query>& q, const SipResponse& response) {
    const int status = response.status();
    const std::string reason(response.reason());
    if (status == 302) return follow(q, response);
    if (response.local() && (status == 408 || status == 503)) return server_failed(q, status, reason);
    if (status >= 200 && status < 400) return failure(502, "Unexpected Answer From The Tree");
    Resolution r = failure(status, reason);  // 404 (no such name, a server offline), 480, 483, 503 ...
    // The family server itself answered (480: the user has no binding now):
    // where the user registers is still known.
    if (q->served_length == q->domain.size()) r.family_server = q->server;
    return r;
  }

  // No answer from a server: it is dropped from the cache. When it came from
  // the cache, the tree may have changed: once more from the top.
  std::optional<Resolution> server_failed(const std::shared_ptr<Query>& q, int status,
                                          const std::string& reason) {
    const bool top = q->served_length == top_length(*q) && !q->server_from_cache;
    if (!top) forget(q->domain.substr(0, q->served_length));
    if (q->server_from_cache && !q->restarted) {
      q->restarted = true;
      log.debug("resolve ", q->aor, ": cached ", q->server, " gave ", status, "; starting from the top");
      return start(q, false);
    }
    return failure(status, reason);
  }

  std::optional<Resolution> follow(const std::shared_ptr<Query>& q, const SipResponse& response) {
    std::vector<std::string> contacts = sip_contacts(response);
    // A server below the top that sends us back up no longer serves the
    // domain we learned it for (another server took its address).
    if (!contacts.empty() && same_server(contacts.front(), settings.top) &&
        !same_server(q->server, settings.top))
      return referred_back_to_top(q);
    if (q->served_length == q->domain.size()) {  // the family server: the user's contacts
      if (contacts.empty()) return failure(502, "No Usable Contact");
      Resolution r;
      r.status = 302;
      r.reason = "Moved Temporarily";
      r.contacts = std::move(contacts);
      r.family_server = q->server;
      return r;
    }
    // A referral: its first Contact must be the next server.
    const auto all = response.contacts();
    if (all.empty() || contacts.empty() || all.front().uri != contacts.front())
      return failure(502, "Bad Referral");
    if (q->referrals >= settings.max_hops) return failure(508, "Loop Detected");
    ++q->referrals;
    const size_t dot = q->domain.find('.', q->served_length + 1);
    q->served_length = dot == std::string::npos ? q->domain.size() : dot;
    q->server = contacts.front();
    q->server_from_cache = false;
    remember(q->domain_key.substr(0, q->served_length), q->server, q->loop->unix_now());
    return ask(q);
  }

  std::optional<Resolution> referred_back_to_top(const std::shared_ptr<Query>& q) {
    forget(q->domain.substr(0, q->served_length));
    if (q->server_from_cache && !q->restarted) {
      q->restarted = true;
      log.debug("resolve ", q->aor, ": cached ", q->server, " sends us to the top; starting from there");
      return start(q, false);
    }
    return failure(508, "Loop Detected");  // the tree itself sends us round
  }
};

TreeResolver::TreeResolver(SipClient& client, ResolverSettings settings, Logger& log)
    : state_(std::make_shared<State>(client, std::move(settings), log)) {}

TreeResolver::~TreeResolver() {
  std::unordered_map<uint64_t, std::shared_ptr<Query>> cancelled;
  {
    std::lock_guard lock(state_->mutex);
    state_->alive = false;
    cancelled.swap(state_->in_flight);
  }
  // Destroyed outside the lock: the transactions cancel their callbacks.
}

void TreeResolver::resolve(EventLoop& loop, std::string aor, std::function<void(const Resolution&)> done) {
  auto q = std::make_shared<Query>();
  q->loop = &loop;
  q->aor = std::move(aor);
  q->done = std::move(done);
  {
    std::lock_guard lock(state_->mutex);
    q->id = ++state_->next_id;
  }
  std::optional<Resolution> at_once;
  const std::string uri_text = "sip:" + q->aor;
  const std::optional<UriView> uri = parse_uri(uri_text);
  const std::string& top = state_->settings.top_domain;
  // The user part follows the tree's rule for names (classify): labels with
  // dots, so an appliance's entity id (light.kitchen@C1.D1.H1) is found like a user.
  if (!uri || uri->user.empty() || !uri->port.empty() || !uri->params.empty() || !uri->headers.empty() ||
      !valid_domain(uri->user) || !valid_domain(uri->host)) {
    at_once = failure(404, "Not A Name In This Tree");
  } else {
    q->domain = std::string(uri->host);
    q->domain_key = lower(q->domain);
    const std::string top_key = lower(top);
    const bool in_tree = top.empty() || q->domain_key == top_key ||
                         (q->domain_key.size() > top_key.size() && q->domain_key.starts_with(top_key + "."));
    if (!in_tree)
      at_once = failure(404, "Not In This Tree");
    else
      at_once = state_->start(q, true);
  }
  if (!at_once) return;
  // Never from inside resolve(): the caller may not be ready for it.
  Resolution answer = std::move(*at_once);
  answer.path = std::move(q->result.path);
  loop.post([weak = std::weak_ptr<State>(state_), q, answer = std::move(answer)] {
    const auto state = weak.lock();
    if (!state) return;
    {
      std::lock_guard lock(state->mutex);
      if (!state->alive) return;
    }
    q->done(answer);
  });
}

void TreeResolver::forget(const std::string& domain) { state_->forget(domain); }

size_t TreeResolver::cached() const {
  std::lock_guard lock(state_->mutex);
  return state_->by_domain.size();
}

}  // namespace homesip::tree
