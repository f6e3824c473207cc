#include "tree_commands.hpp"

#include <cstdio>

#include "homesip/uri.hpp"

namespace homesip::tree {
namespace {

std::string json_strings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + json_string(items[i]);
  return out + "]";
}

std::string child_json(const ChildStatus& child) {
  return "{\"aor\":" + json_string(child.aor) + ",\"contact\":" + json_string(child.contact) +
         ",\"online\":" + (child.online ? "true" : "false") + ",\"since\":" + std::to_string(child.since) +
         ",\"misses\":" + std::to_string(child.misses) + "}";
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string tree_json(const TreeView& view) {
  std::string children = "[";
  for (size_t i = 0; i < view.children.size(); ++i) children += (i ? "," : "") + child_json(view.children[i]);
  children += "]";
  return "{\"name\":" + json_string(view.me.name) + ",\"aor\":" + json_string(view.me.aor()) +
         ",\"domain\":" + json_string(view.me.domain) +
         ",\"child_domain\":" + json_string(view.me.child_domain()) + ",\"top\":" + json_string(view.top) +
         ",\"parent\":" + (view.parent ? json_string(*view.parent) : "null") +
         ",\"registration\":" + json_string(view.registration) + ",\"children\":" + children + "}";
}

std::string proxy_uri(std::string_view server_contact) {
  const std::optional<UriView> uri = parse_uri(server_contact);
  if (!uri) return std::string(server_contact);
  std::string out(uri->scheme);
  out.append(":").append(uri->host);
  if (!uri->port.empty()) out.append(":").append(uri->port);
  if (!uri->params.empty()) out.append(";").append(uri->params);
  return out;
}

std::string locate_json(std::string_view aor, const Resolution& resolution) {
  std::string phones = ",\"baresip\":null,\"linphone\":null";
  if (!resolution.family_server.empty()) {
    const std::string proxy = proxy_uri(resolution.family_server);
    const std::string identity = "sip:" + std::string(aor);
    // baresip's accounts line and linphonerc's [proxy_0]: the family server is
    // registrar and outbound proxy, since the tree's names are not in DNS.
    const std::string baresip = "<" + identity + ">;outbound=\"" + proxy + "\";regint=600";
    phones = ",\"baresip\":" + json_string(baresip) +
             ",\"linphone\":{\"reg_proxy\":" + json_string("<" + proxy + ">") +
             ",\"reg_route\":" + json_string("<" + proxy + ";lr>") +
             ",\"reg_identity\":" + json_string(identity) + "}";
  }
  return "{\"aor\":" + json_string(aor) + ",\"status\":" + std::to_string(resolution.status) +
         ",\"reason\":" + json_string(resolution.reason) + ",\"path\":" + json_strings(resolution.path) +
         ",\"family_server\":" + json_string(resolution.family_server) +
         ",\"contacts\":" + json_strings(resolution.contacts) + phones + "}";
}

}  // namespace homesip::tree
