// location-ldap: the server's location store in an LDAP directory.
#include "homesip/homesip.hpp"
#include "ldap_location_store.hpp"
#include "ldap_options.hpp"

namespace {

using homesip::location_ldap::LdapLocationStore;

class LocationLdapPlugin final : public homesip::Plugin {
 public:
  explicit LocationLdapPlugin(homesip::PluginContext& context)
      : store_(homesip::location_ldap::read_settings(context.settings()), context.loop(), context.logger()) {
    context.provide_location_store(store_);
  }
  void stop() override { store_.stop(); }

 private:
  LdapLocationStore store_;
};

}  // namespace

HOMESIP_PLUGIN("location-ldap", "1.0.0", "Location store in an LDAP directory (OpenLDAP, shared by servers)",
               homesip::location_ldap::kLocationLdapSettings, LocationLdapPlugin)
