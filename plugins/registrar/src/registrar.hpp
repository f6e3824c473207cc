// The registrar: answers REGISTER for the AORs this server keeps (RFC 3261
// 10.3), writing through the location store and answering 200 only once the
// store says the change is durable. The request is suspended while the store
// works; time comes from the request's loop (EventLoop::unix_now), so a test
// on the SDK's manual loop decides what "now" is.
#pragma once

#include <string>
#include <vector>

#include "homesip/admin.hpp"
#include "homesip/context.hpp"
#include "homesip/handler.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "registration_rules.hpp"

namespace homesip::registrar {

// What the registrar counts (declared in the plugin's descriptor).
struct RegistrarMetrics {
  Counter registrations;    // 200 to a REGISTER that added or refreshed bindings
  Counter unregistrations;  // 200 to a REGISTER that removed them (expires 0, or *)
  Counter rejected;         // any failure the registrar answered
};

class Registrar final : public RequestHandler {
 public:
  Registrar(LocationStore& store, Logger& log, RegistrarPolicy policy, std::vector<std::string> domains,
            uint32_t retry_after_s, RegistrarMetrics metrics = {});
  Disposition on_request(IncomingRequest& request) override;

 private:
  bool serves_domain(std::string_view host) const;
  Disposition reject(IncomingRequest& request, const Reply& reply);
  Disposition register_contacts(IncomingRequest& request, std::string aor, RegisterIntent intent);
  Disposition list_bindings(IncomingRequest& request, const std::string& aor);
  void log_changes(const std::string& aor, const std::string& source, const BindingChanges& changes);
  Reply bindings_reply(const BindingList& bindings, int64_t now) const;
  Reply store_failure_reply(StoreStatus status) const;

  LocationStore& store_;
  Logger& log_;
  RegistrarPolicy policy_;
  std::vector<std::string> domains_;
  std::string retry_after_;
  RegistrarMetrics metrics_;
  OutageLog store_outage_;  // one warn line when the store fails REGISTERs, one when it is back
};

}  // namespace homesip::registrar
