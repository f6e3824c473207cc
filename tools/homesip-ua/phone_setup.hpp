// What a person types into a phone once `locate` found the family server: the
// tree's domains (C1.D1.H1) do not resolve in DNS, so a phone needs its family
// server as registrar and outbound proxy (docs/phones.md).
#pragma once

#include <string>

namespace homesip::ua {

// A line of baresip's ~/.baresip/accounts:
//   <sip:U1@C1.D1.H1>;outbound="sip:127.0.0.1:5130";regint=600
std::string baresip_account(const std::string& aor, const std::string& family_server);

// linphonerc's [proxy_0] settings, one "key=value" a line: reg_proxy,
// reg_route (the same server, loose routing: every request goes there) and
// reg_identity.
std::string linphone_settings(const std::string& aor, const std::string& family_server);

}  // namespace homesip::ua
