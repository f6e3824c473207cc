// Following 302s by hand (paper STEP 3): which Contact to try next, where to
// send it, and when to give up. No sofia types here, so the rules stay plain.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace homesip::ua {

struct ContactChoice {
  std::string uri;  // as the 302 spelled it
  double q = 1.0;
};

// Where the next request goes.
struct Hop {
  std::string request_uri;  // Request-URI
  std::string proxy;        // address to send it to instead of the Request-URI's ("" = none)
  std::string shown;        // what the output line names as the destination
};

class RedirectChain {
 public:
  enum class Verdict { kFollow, kNoContact, kTooMany, kLoop };

  // `first` is where the chain starts (--server); `tree_labels` are the server
  // names a Contact user part may carry (see is_server_hop).
  RedirectChain(std::string first, int max_redirects, std::vector<std::string> tree_labels);

  // Picks the highest-q Contact (first one on ties); counts it and checks for
  // loops. On kFollow, `next` is the chosen target.
  Verdict follow(const std::vector<ContactChoice>& contacts, std::string* next);

  int redirects() const { return redirects_; }
  // RFC 3261 Max-Forwards, one less for each hop already taken: a redirect
  // server answers 483 at 0, which ends loops the client cannot see.
  int max_forwards() const { return 70 - redirects_; }

  // A server of the tree registers its own name (D1, H1 …) as its Contact's
  // user part; any other Contact is a user's terminal.
  bool is_server_hop(const std::string& uri) const;

 private:
  int max_;
  int redirects_ = 0;
  std::set<std::string> seen_;
  std::vector<std::string> labels_;
};

// The labels of the domain of an AOR: "sip:U1@C1.D1.H1" -> {C1, D1, H1}.
std::vector<std::string> domain_labels(const std::string& aor);
// "sip:D1@127.0.0.1:5120;transport=udp" -> "D1"; "" without a user part.
std::string user_of(const std::string& uri);
// The same URI without its user part: "sip:127.0.0.1:5120;transport=udp".
std::string without_user(const std::string& uri);

// REGISTER: the Request-URI names the registrar (RFC 3261 10.2: no user part).
Hop register_hop(const std::string& target);
// INVITE/MESSAGE: a server hop keeps the callee's AOR as Request-URI (the
// redirect server judges by it) and is sent to the server; a terminal's
// Contact becomes the Request-URI (RFC 3261 8.1.3.4).
Hop request_hop(const RedirectChain& chain, const std::string& callee, const std::string& target);

}  // namespace homesip::ua
