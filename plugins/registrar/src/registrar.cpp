#include "registrar.hpp"

#include <algorithm>
#include <ctime>
#include <memory>

namespace homesip::registrar {
namespace {

// ASCII only, as host names are: std::tolower was a locale call per character.
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

// Formatted once a second: strftime was a tenth of the registrar's own work.
std::string http_date(int64_t now) {
  thread_local int64_t formatted_at = -1;
  thread_local std::string text;
  if (now != formatted_at) {
    const std::time_t t = static_cast<std::time_t>(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text = buffer;
    formatted_at = now;
  }
  return text;
}

}  // namespace

Registrar::Registrar(LocationStore& store, Logger& log, RegistrarPolicy policy,
                     std::vector<std::string> domains, uint32_t retry_after_s, RegistrarMetrics metrics)
    : store_(store),
      log_(log),
      policy_(policy),
      domains_(std::move(domains)),
      retry_after_(std::to_string(retry_after_s)),
      metrics_(metrics),
      store_outage_(log, "location store (registrar)") {}

bool Registrar::serves_domain(std::string_view host) const {
  if (domains_.empty()) return true;
  return std::any_of(domains_.begin(), domains_.end(),
                     [&](const std::string& d) { return iequals(d, host); });
}

Disposition Registrar::reject(IncomingRequest& request, const Reply& reply) {
  metrics_.rejected.add();
  // Who may not register where is worth a line; 400 and 423 are a UA's
  // protocol slips (it retries at once) and go to debug.
  const SipRequest& sip = request.request();
  const std::string line =
      refusal_text(sip.method_name(), aor_of(sip.to_uri()), sip.source().text(), reply.status, reply.reason);
  if (reply.status == 403 || reply.status == 404)
    log_.info(line);
  else
    log_.debug(line);
  request.reply(reply);
  return Disposition::kHandled;
}

Disposition Registrar::on_request(IncomingRequest& request) {
  const SipRequest& sip = request.request();
  if (sip.method() != Method::kRegister) return Disposition::kContinue;

  // Require is refused (420) by the core before any handler, for every method.
  const UriView to = sip.to_uri();
  if (to.user.empty() || to.host.empty() || (to.scheme != "sip" && to.scheme != "sips"))
    return reject(request, Reply(404, "Not Found"));  // no address-of-record to bind
  if (!serves_domain(to.host)) return reject(request, Reply(404, "Domain Not Served Here"));
  if (sip.expires_header_invalid()) return reject(request, Reply(400, "Invalid Expires"));
  const auto contacts = sip.contacts();
  std::string aor = aor_of(to);
  if (contacts.empty()) return list_bindings(request, aor);
  RegisterIntent intent;
  const Verdict verdict = read_intent(contacts, sip.expires_header(), policy_, intent);
  if (!verdict.ok()) {
    Reply reply(verdict.status, verdict.reason);
    if (verdict.status == 423) reply.header("Min-Expires", std::to_string(verdict.min_expires));
    return reject(request, reply);
  }
  intent.call_id = sip.call_id();
  intent.cseq = sip.cseq();
  intent.source = sip.source().text();
  intent.user_agent = sip.user_agent();
  return register_contacts(request, std::move(aor), std::move(intent));
}

namespace {

// A REGISTER that only takes bindings away: "Contact: *", or every contact at expires 0.
bool removes_only(const RegisterIntent& intent) {
  return intent.wildcard || std::all_of(intent.contacts.begin(), intent.contacts.end(),
                                        [](const RequestedContact& c) { return c.expires == 0; });
}

}  // namespace

Disposition Registrar::register_contacts(IncomingRequest& request, std::string aor, RegisterIntent intent) {
  // Everything the edit and the answer share, in one allocation: the request
  // waiting for the store, what it asks for, and what the edit decided.
  struct Pending {
    std::unique_ptr<SuspendedRequest> request;
    std::string aor;
    RegisterIntent intent;
    Verdict verdict;
    BindingChanges changes;
  };
  const Counter& counted = removes_only(intent) ? metrics_.unregistrations : metrics_.registrations;
  auto pending =
      std::make_shared<Pending>(Pending{request.suspend(), std::move(aor), std::move(intent), {}, {}});
  const int64_t now = pending->request->loop().unix_now();
  // The edit may run on another loop's thread: it reads the policy, which never changes.
  auto edit = [this, pending, now](BindingList& bindings) {
    bool changed = false;
    pending->verdict = apply_intent(pending->intent, policy_, now, bindings, changed, &pending->changes);
    return pending->verdict.ok() && changed;
  };
  auto done = [this, pending, counted](StoreStatus status, const BindingList& bindings) {
    SuspendedRequest& waiting = *pending->request;
    if (status != StoreStatus::kOk) {
      store_outage_.failed("REGISTER " + log_safe(pending->aor) + " from " + pending->intent.source +
                           " answered " + (status == StoreStatus::kUnavailable ? "503" : "500"));
      metrics_.rejected.add();
      waiting.reply(store_failure_reply(status));
      return;
    }
    store_outage_.recovered();
    const Verdict& verdict = pending->verdict;
    if (!verdict.ok()) {
      metrics_.rejected.add();
      waiting.reply(Reply(verdict.status, verdict.reason));
    } else {
      counted.add();
      log_changes(pending->aor, pending->intent.source, pending->changes);
      waiting.reply(bindings_reply(bindings, waiting.loop().unix_now()));
    }
  };
  store_.update(pending->aor, std::move(edit), std::move(done));
  return Disposition::kSuspended;
}

// One line per binding added or removed; a refresh (the same contact again)
// writes none, so a busy server's log holds changes only.
void Registrar::log_changes(const std::string& aor, const std::string& source,
                            const BindingChanges& changes) {
  if (!log_.enabled(LogLevel::kInfo)) return;
  const std::string safe_aor = log_safe(aor);
  for (const auto& [contact, expires] : changes.added)
    log_.info("registration added aor=", safe_aor, " contact=<", log_safe(contact), "> source=", source,
              " expires=", expires);
  for (const auto& contact : changes.removed)
    log_.info("registration removed aor=", safe_aor, " contact=<", log_safe(contact), "> source=", source);
}

Disposition Registrar::list_bindings(IncomingRequest& request, const std::string& aor) {
  std::shared_ptr<SuspendedRequest> pending = request.suspend();
  store_.lookup(aor, [this, pending](StoreStatus status, const BindingList& bindings) {
    if (status == StoreStatus::kOk) {
      store_outage_.recovered();
    } else {
      metrics_.rejected.add();
      store_outage_.failed("a query of bindings failed");
    }
    pending->reply(status == StoreStatus::kOk ? bindings_reply(bindings, pending->loop().unix_now())
                                              : store_failure_reply(status));
  });
  return Disposition::kSuspended;
}
Reply Registrar::bindings_reply(const BindingList& bindings, int64_t now) const {
  Reply reply(200, "OK");
  reply.contacts.reserve(bindings.size());
  for (const auto& b : bindings) {
    if (b.expires_at <= now) continue;
    reply.contacts.push_back(ReplyContact{b.contact, static_cast<uint32_t>(b.expires_at - now), b.q_millis});
  }
  reply.header("Date", http_date(now));
  return reply;
}

Reply Registrar::store_failure_reply(StoreStatus status) const {
  if (status == StoreStatus::kUnavailable) {
    Reply reply(503, "Location Store Unavailable");
    reply.header("Retry-After", retry_after_);
    return reply;
  }
  return Reply(500, "Location Store Error");
}

}  // namespace homesip::registrar
