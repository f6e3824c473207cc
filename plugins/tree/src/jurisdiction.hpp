// Who answers for a name in the paper's server tree. A server "D1@C1" keeps
// the domain "C1.D1" (its child domain); everything named "x@C1.D1" is its
// direct child, everything named "x@C1.D1.<label>..." lives below the child
// server "<label>@C1.D1", and every other name belongs elsewhere in the tree.
// Pure functions: no store, no SIP stack.
#pragma once

#include <string>
#include <string_view>

#include "homesip/tree.hpp"
#include "homesip/uri.hpp"

namespace homesip::redirect {

enum class Relation {
  kSelf,         // the AOR is this server's own ("D1@C1" at D1)
  kDirectChild,  // a server or user directly under this server
  kInSubtree,    // deeper below; `child_aor` is the child server on the path
  kNotMine,      // outside this server's subtree (a sibling, an ancestor, an IP)
  kInvalid,      // not a tree name: missing '@', empty or bad label
};

struct Jurisdiction {
  Relation relation = Relation::kInvalid;
  // For kInSubtree: "<label>@<my child domain>", the AOR the child server
  // registered with; the label keeps the request's spelling, the domain the
  // configured one (the location store compares AORs exactly).
  std::string child_aor;
};

// A name label: non-empty, only [A-Za-z0-9_-].
bool valid_label(std::string_view label);
// Dot-separated valid labels.
bool valid_domain(std::string_view domain);

// Where the name `user`@`host` sits relative to `me`. Case-insensitive.
Jurisdiction classify(const ServerIdentity& me, std::string_view user, std::string_view host);
// The same for a URI's user and host.
Jurisdiction classify(const ServerIdentity& me, const UriView& uri);
// The same for an AOR "user@host" (read with the SDK's URI parser).
Jurisdiction classify(const ServerIdentity& me, std::string_view aor);

const char* relation_name(Relation relation);

}  // namespace homesip::redirect
