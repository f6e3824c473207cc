#include "tree_commands.hpp"

#include <nlohmann/json.hpp>

#include "homesip/uri.hpp"

namespace homesip::tree {
namespace {

using Json = nlohmann::ordered_json;  // keys in the order written, as people read them

// Invalid UTF-8 from the wire (a contact, a reason) is replaced, never thrown.
std::string text_of(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json child_json(const ChildStatus& child) {
  return {{"aor", child.aor},
          {"contact", child.contact},
          {"online", child.online},
          {"since", child.since},
          {"misses", child.misses}};
}

}  // namespace

std::string tree_json(const TreeView& view) {
  Json children = Json::array();
  for (const ChildStatus& child : view.children) children.push_back(child_json(child));
  return text_of({{"name", view.me.name},
                  {"aor", view.me.aor()},
                  {"domain", view.me.domain},
                  {"child_domain", view.me.child_domain()},
                  {"top", view.top},
                  {"parent", view.parent ? Json(*view.parent) : Json(nullptr)},
                  {"registration", view.registration},
                  {"children", children}});
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
  Json out = {{"aor", aor},
              {"status", resolution.status},
              {"reason", resolution.reason},
              {"path", resolution.path},
              {"family_server", resolution.family_server},
              {"contacts", resolution.contacts},
              {"baresip", nullptr},
              {"linphone", nullptr}};
  if (!resolution.family_server.empty()) {
    const std::string proxy = proxy_uri(resolution.family_server);
    const std::string identity = "sip:" + std::string(aor);
    // baresip's accounts line and linphonerc's [proxy_0]: the family server is
    // registrar and outbound proxy, since the tree's names are not in DNS.
    out["baresip"] = "<" + identity + ">;outbound=\"" + proxy + "\";regint=600";
    out["linphone"] = {
        {"reg_proxy", "<" + proxy + ">"}, {"reg_route", "<" + proxy + ";lr>"}, {"reg_identity", identity}};
  }
  return text_of(out);
}

}  // namespace homesip::tree
