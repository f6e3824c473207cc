// Finds where a user of the tree can be reached, on behalf of a phone that
// uses this server as its outbound proxy: as a DNS resolver follows
// referrals, it asks the top server (or the deepest server it has cached for
// the AOR's domain) with OPTIONS whose Request-URI is the AOR, and follows each
// 302 down one label of the domain, until the server whose child domain is the
// AOR's host answers with the user's contacts. Servers learned on the way are
// cached by the domain they serve, bounded in count and time, so the next call
// to the same family asks the family server directly.
//
// Threads: resolve() may be called from any loop thread and is given that
// loop; `done` runs on it (the SDK client delivers there, and an answer known
// at once is posted there). Cache ages are read from that loop's unix_now().
// The cache is guarded by a mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "homesip/client.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"

namespace homesip::tree {

struct ResolverSettings {
  std::string top;                     // where resolution starts: the top server's URI ("sip:127.0.0.1:5110")
  std::string from;                    // From of the queries: "sip:H1@C1.D1"
  std::string top_domain;              // the domain the top server serves ("C1"): the depth of `top`
  size_t cache_entries = 1024;         // servers kept, by domain; least recently used go first
  std::chrono::seconds cache_ttl{60};  // a cached server is asked again after this
  int max_hops = 8;                    // referrals followed before giving up (508 Loop Detected)
};

struct Resolution {
  // 302: `contacts` holds the user's contacts, best first. Otherwise the
  // status to answer the phone with: 404 (no such name or a server on the
  // way offline), 480 (the user has no binding), 503 or 408 (a server did not
  // answer), 508 (too many referrals).
  int status = 0;
  std::string reason;
  std::vector<std::string> contacts;
  // The server whose child domain is the AOR's domain (the family server), as
  // the tree gave its contact; empty when not reached.
  std::string family_server;
  // Every server asked, in order, as "domain=uri" ("C1=sip:127.0.0.1:5110").
  std::vector<std::string> path;
};

class TreeResolver {
 public:
  TreeResolver(SipClient& client, ResolverSettings settings, Logger& log);
  ~TreeResolver();
  TreeResolver(const TreeResolver&) = delete;
  TreeResolver& operator=(const TreeResolver&) = delete;

  // Resolves `aor` ("U9@C1.D1.H1"); `done` is called once on `loop`, the
  // caller's (IncomingRequest::loop(), or PluginContext::loop() for a
  // command), never from inside resolve(). Destroying the resolver cancels
  // the callbacks of queries in flight.
  void resolve(EventLoop& loop, std::string aor, std::function<void(const Resolution&)> done);
  // Drops every cached server for `domain` and below (a hop that failed).
  void forget(const std::string& domain);
  size_t cached() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace homesip::tree
