// The JSON the tree plugin's commands answer (`homesipctl tree`, `homesipctl
// locate AOR`), built from plain values so it is tested without a server.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "child_monitor.hpp"
#include "homesip/tree.hpp"
#include "tree_resolver.hpp"

namespace homesip::tree {

struct TreeView {
  ServerIdentity me;
  std::string top;                    // the top server's URI (this server's own at the top)
  std::optional<std::string> parent;  // the registrar that said 200; nullopt: none (yet)
  std::string registration;           // "registered", "waiting to retry", ...; "top" at the top
  std::vector<ChildStatus> children;
};

// {name, aor, domain, child_domain, top, parent, registration, children: [{aor,
// contact, online, since, misses}]}
std::string tree_json(const TreeView& view);

// The family server's address as a phone's outbound proxy: its URI without
// the user part ("sip:H1@127.0.0.1:5130" -> "sip:127.0.0.1:5130"), keeping
// parameters such as ;transport=tcp.
std::string proxy_uri(std::string_view server_contact);

// {aor, status, reason, path, family_server, contacts, baresip, linphone:
// {reg_proxy, reg_route, reg_identity}}; baresip and linphone are null when
// the family server was not reached.
std::string locate_json(std::string_view aor, const Resolution& resolution);

}  // namespace homesip::tree
