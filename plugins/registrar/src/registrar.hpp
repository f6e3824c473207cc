// The registrar: answers REGISTER for the AORs this server keeps (RFC 3261
// 10.3), writing through the location store and answering 200 only once the
// store says the change is durable.
#pragma once

#include <string>
#include <vector>

#include "homesip/context.hpp"
#include "homesip/handler.hpp"
#include "registration_rules.hpp"

namespace homesip::registrar {

class Registrar final : public RequestHandler {
 public:
  Registrar(LocationStore& store, Logger& log, RegistrarPolicy policy, std::vector<std::string> domains,
            uint32_t retry_after_s);
  Disposition on_request(IncomingRequest& request) override;

 private:
  bool serves_domain(std::string_view host) const;
  void register_contacts(IncomingRequest& request, std::string aor, RegisterIntent intent);
  void list_bindings(IncomingRequest& request, const std::string& aor);
  Reply bindings_reply(const BindingList& bindings, int64_t now) const;
  Reply store_failure_reply(StoreStatus status) const;

  LocationStore& store_;
  Logger& log_;
  RegistrarPolicy policy_;
  std::vector<std::string> domains_;
  std::string retry_after_;
};

}  // namespace homesip::registrar
