#include "phone_setup.hpp"

namespace homesip::ua {

std::string baresip_account(const std::string& aor, const std::string& family_server) {
  return "<" + aor + ">;outbound=\"" + family_server + "\";regint=600";
}

std::string linphone_settings(const std::string& aor, const std::string& family_server) {
  return "reg_proxy=<" + family_server + ">\nreg_route=<" + family_server + ";lr>\nreg_identity=" + aor +
         "\nreg_sendregister=1\n";
}

}  // namespace homesip::ua
