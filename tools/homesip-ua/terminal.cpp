#include "terminal.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/soa_tag.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "homesip/digest/digest.hpp"
#include "tls_probe.hpp"

// sofia-sip's transport log (tport_internal.h, not installed): without
// agent.pem (a client-only TLS) it prints a screen of OpenSSL errors at every
// start; tls_probe says what matters. TPORT_DEBUG=N still shows it all.
extern "C" su_log_t tport_log[];

namespace homesip::ua {
namespace {

volatile std::sig_atomic_t g_stop = 0;
bool g_steps_to_stderr = false;  // --json
extern "C" void on_signal(int) { g_stop = 1; }

std::string url_text(const url_t* url) {
  char buffer[1024];
  if (!url || url_e(buffer, sizeof buffer, url) < 0) return "";
  return buffer;
}

// "sip:127.0.0.1:0;transport=udp" -> "127.0.0.1"; "sips:[::1]:5061" -> "[::1]".
std::string listen_host(const std::string& listen) {
  const auto start = listen.find(':') + 1;
  const auto end = listen.find_last_of(':');
  return end > start ? listen.substr(start, end - start) : "127.0.0.1";
}

// The address our SDP names: the listen host, or loopback for a wildcard.
std::string media_host(const std::string& listen) {
  std::string host = listen_host(listen);
  if (host == "0.0.0.0" || host == "*") host = "127.0.0.1";
  return host;
}

}  // namespace

// sofia-sip reads TLS files from one directory (NUTAG_CERTIFICATE_DIR):
// cafile.pem, the CAs it trusts, and agent.pem, our own key and certificate.
// A private directory of links gives it --ca and --certificates' agent.pem;
// sofia reads them when nua is created, and the directory goes right after.
class Terminal::TlsFiles {
 public:
  explicit TlsFiles(const Options& o) {
    std::string pattern = (std::filesystem::temp_directory_path() / "homesip-ua-tls-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot make a directory for the TLS files");
    dir_ = pattern;
    std::filesystem::create_symlink(o.ca_file, dir_ / "cafile.pem");
    if (!o.certificates.empty())
      std::filesystem::create_symlink(std::filesystem::path(o.certificates) / "agent.pem",
                                      dir_ / "agent.pem");
  }
  ~TlsFiles() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;
  std::string dir() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

namespace {
// "sip:127.0.0.1:0;transport=udp" with a port the kernel gives a socket of
// that transport now, so the Contact can name it before nua binds it; the
// URL unchanged when its port is not 0 or no port is free.
std::string with_concrete_port(const std::string& url) {
  const auto port_start = url.find(":0;");
  if (port_start == std::string::npos) return url;
  const bool tcp = url.find(";transport=tcp") != std::string::npos;
  const std::string host = listen_host(url);
  const int fd = ::socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) return url;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  socklen_t length = sizeof address;
  uint16_t port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1 &&
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  ::close(fd);
  if (port == 0) return url;
  return url.substr(0, port_start) + ":" + std::to_string(port) + url.substr(port_start + 2);
}
}  // namespace

std::string Terminal::listen_contact(const std::string& user) const {
  if (options_.ca_file.empty() || listen_url_.rfind("sip:", 0) != 0 ||
      listen_url_.find(":0;") != std::string::npos)
    return "";
  const auto parameters = listen_url_.find(';');
  const std::string tcp = listen_url_.find(";transport=tcp") != std::string::npos ? ";transport=tcp" : "";
  return "sip:" + user + "@" + listen_url_.substr(4, parameters - 4) + tcp;
}

Terminal::Terminal(const Options& options) : options_(options) {
  g_steps_to_stderr = options.json;
  su_init();
  // su_root's magic is this Terminal: the timers find their way back with it.
  root_ = su_root_create(reinterpret_cast<su_root_magic_t*>(this));
  if (!root_) throw std::runtime_error("cannot create the event loop");
  // nua's magic is this Terminal too; handles carry no magic of their own.
  // NUTAG_RETRY_COUNT(0): Debian's nua would follow a few 3xx by itself (and
  // count them with 401/407/423); the paper's client follows them here, all
  // the way, with its own loop and limit checks. 401/407 too are answered
  // here (answer_challenge), not by nua's auth client, which does MD5 only
  // and gives up on a challenge list that also offers SHA-256.
  //
  // With --ca, a second transport for sips: (TLS): its own address unless
  // --listen is already a tls: one. Every server certificate must chain to
  // --ca and name the URI host (TPTLS_VERIFY_SUBJECTS_OUT); TLS version 0
  // lets OpenSSL negotiate 1.2 or 1.3 (sofia's 1 would mean TLS 1.0 only).
  const bool tls = !options_.ca_file.empty();
  if (tls && !std::getenv("TPORT_DEBUG")) su_log_set_level(tport_log, 0);
  const bool tls_listen = options_.listen.rfind("sips:", 0) == 0;
  const std::unique_ptr<TlsFiles> tls_files = tls ? std::make_unique<TlsFiles>(options_) : nullptr;
  const std::string tls_dir = tls ? tls_files->dir() : "";
  const std::string sips_url = "sips:" + listen_host(options_.listen) + ":0";
  listen_url_ = tls && !tls_listen ? with_concrete_port(options_.listen) : options_.listen;
  nua_ = nua_create(
      root_, &Terminal::nua_callback, reinterpret_cast<nua_magic_t*>(this), NUTAG_URL(listen_url_.c_str()),
      TAG_IF(tls && !tls_listen, NUTAG_SIPS_URL(sips_url.c_str())),
      TAG_IF(tls, NUTAG_CERTIFICATE_DIR(tls_dir.c_str())),
      TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_SUBJECTS_OUT)), TAG_IF(tls, TPTAG_TLS_VERSION(0)),
      NUTAG_RETRY_COUNT(0), NUTAG_OUTBOUND("no-options-keepalive no-validate no-natify"), NUTAG_KEEPALIVE(0),
      NUTAG_AUTOANSWER(0), NUTAG_AUTOACK(1), NUTAG_APPL_METHOD("MESSAGE"), NUTAG_ENABLEMESSAGE(1),
      SOATAG_USER_SDP_STR(sdp().c_str()), SIPTAG_USER_AGENT_STR("homesip-ua/0.1"), TAG_END());
  if (!nua_)
    throw std::runtime_error(
        "cannot listen on " + options_.listen +
        (tls ? " and TLS (address in use, or unreadable --ca/--certificates?)" : " (address in use?)"));
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  signal_timer_ = su_timer_create(su_root_task(root_), 100);
  su_timer_set_for_ever(signal_timer_, &Terminal::signal_poll, nullptr);
}

Terminal::~Terminal() {
  for (auto& t : timers_) su_timer_destroy(t->timer);
  if (signal_timer_) su_timer_destroy(signal_timer_);
  if (nua_) nua_destroy(nua_);
  if (root_) su_root_destroy(root_);
  su_deinit();
}

int Terminal::run() {
  start();
  su_root_run(root_);  // start() only sends: finish() always comes from a callback
  if (abandoned_) {
    // nua still holds the binding; tearing it down would unregister it, and
    // leaving it to the destructors would look like a leak (LSan).
    std::fflush(stdout);
    std::_Exit(code_);
  }
  return code_;
}

void Terminal::finish(int code) {
  if (finishing_) return;
  finishing_ = true;
  code_ = code;
  nua_shutdown(nua_);  // nua_r_shutdown then breaks the loop
}

void Terminal::abandon(int code) {
  if (finishing_) return;
  finishing_ = abandoned_ = true;
  code_ = code;
  su_root_break(root_);
}

bool Terminal::tls_refused(const std::string& destination) {
  if (!is_tls_uri(destination)) return false;
  const std::string why = options_.ca_file.empty() ? destination + " is TLS: it needs --ca FILE"
                                                   : tls_refusal(destination, options_.ca_file);
  if (why.empty()) return false;
  std::fprintf(stderr, "homesip-ua: TLS refused: %s\n", why.c_str());
  finish(kExitFailed);
  return true;
}

namespace {

// One challenge value as the header carries it: "Digest realm=..., nonce=...".
std::optional<digest::DigestParams> challenge_params(const msg_auth_t* challenge) {
  char value[4096];
  if (msg_header_field_e(value, sizeof value, reinterpret_cast<const msg_header_t*>(challenge), 0) <= 0)
    return std::nullopt;
  return digest::parse(value);
}

// The strongest challenge we can answer: SHA-256 before MD5 (RFC 8760 3).
std::optional<digest::DigestParams> best_challenge(const msg_auth_t* list, std::string* offered) {
  std::optional<digest::DigestParams> best;
  for (; list; list = list->au_next) {
    auto params = challenge_params(list);
    if (!params) continue;
    const std::string name = params->algorithm.empty() ? "MD5" : params->algorithm;
    *offered += (offered->empty() ? "" : " ") + name;
    const auto algorithm = digest::parse_algorithm(name);
    if (!algorithm) continue;
    if (!best || *algorithm == digest::Algorithm::kSha256) best = std::move(params);
  }
  return best;
}

std::string random_cnonce() {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a cnonce");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char b : bytes) text += {kHex[b >> 4], kHex[b & 15]};
  return text;
}

}  // namespace

Terminal::Challenge Terminal::answer_challenge(const Event& e, const std::string& method,
                                               const std::string& request_uri) {
  if (e.status != 401 && e.status != 407) return Challenge::kNone;
  const bool proxy = e.status == 407;
  std::string offered;
  const auto challenge = best_challenge(!e.sip  ? nullptr
                                        : proxy ? e.sip->sip_proxy_authenticate
                                                : e.sip->sip_www_authenticate,
                                        &offered);
  if (options_.password.empty()) {
    say("authentication needed (" + offered + "): give --user and --password-file");
    return Challenge::kFailed;
  }
  if (!challenge) {
    say("authentication failed: no digest challenge we can answer (offered: " + offered + ")");
    return Challenge::kFailed;
  }
  // A new challenge after our credentials, not for a nonce gone stale: the
  // password (or the user) is wrong. Bounded either way: no loop.
  std::string& header = proxy ? credentials_.proxy_authorization : credentials_.authorization;
  if ((!header.empty() && !challenge->stale) || ++credentials_.answers > kMaxChallengeAnswers) {
    say("authentication failed: " + challenge->realm + " refused the password of " + options_.user);
    return Challenge::kFailed;
  }
  const auto value = digest::authorization(*challenge, user_of(options_.user), options_.password, method,
                                           request_uri, random_cnonce(), 1);
  if (!value) {
    say("authentication failed: cannot answer the challenge of " + challenge->realm + " (qop " +
        challenge->qop + ")");
    return Challenge::kFailed;
  }
  header = *value;
  // nua gives each MESSAGE/OPTIONS a new Call-ID; a proxy may tie its nonce to the one it challenged.
  credentials_.call_id = e.sip && e.sip->sip_call_id ? e.sip->sip_call_id->i_id : "";
  say("authenticating as " + user_of(options_.user) + " for " + challenge->realm + " (" +
      (challenge->algorithm.empty() ? "MD5" : challenge->algorithm) + ")");
  return Challenge::kAnswered;
}

const tagi_t* Terminal::credential_tags() {
  const Credentials& c = credentials_;
  credential_tags_ = {{
      tagi_t{TAG_IF(!c.authorization.empty(), SIPTAG_AUTHORIZATION_STR(c.authorization.c_str()))},
      tagi_t{TAG_IF(!c.proxy_authorization.empty(),
                    SIPTAG_PROXY_AUTHORIZATION_STR(c.proxy_authorization.c_str()))},
      tagi_t{TAG_IF(!c.call_id.empty(), SIPTAG_CALL_ID_STR(c.call_id.c_str()))},
      tagi_t{TAG_END()},
  }};
  return credential_tags_.data();
}

bool Terminal::retry_after_busy(const Event& e, std::function<void()> resend) {
  if (e.status != 503 || !e.sip || !e.sip->sip_retry_after) return false;
  const unsigned wait = e.sip->sip_retry_after->af_delta;
  if (wait > options_.max_retry_after) {
    say("not waiting: " + e.phrase + " for " + std::to_string(wait) + " s (Retry-After: " +
        std::to_string(wait) + "), more than --max-retry-after " + std::to_string(options_.max_retry_after));
    return false;
  }
  if (busy_retries_ >= kMaxBusyRetries) {
    say("not waiting again: " + std::to_string(busy_retries_) + " retries after 503 so far (at most " +
        std::to_string(kMaxBusyRetries) + ")");
    return false;
  }
  forget_credentials();
  ++busy_retries_;
  unsigned char random_byte = 0;
  RAND_bytes(&random_byte, 1);
  const double jitter = std::min(1.0, 0.1 * wait) * random_byte / 255.0;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f", wait + jitter);
  say(std::string("server busy: waiting ") + seconds + " s (Retry-After: " + std::to_string(wait) +
      "), then retry " + std::to_string(busy_retries_) + " of " + std::to_string(kMaxBusyRetries));
  after(std::max(wait + jitter, 0.001), std::move(resend));  // su_timer refuses a zero delay
  return true;
}

void Terminal::after(double seconds, std::function<void()> fn) {
  auto t = std::make_unique<Timer>(Timer{this, std::move(fn), nullptr});
  t->timer = su_timer_create(su_root_task(root_), static_cast<su_duration_t>(seconds * 1000));
  su_timer_set(t->timer, &Terminal::timer_callback, reinterpret_cast<su_timer_arg_t*>(t.get()));
  timers_.push_back(std::move(t));
}

void Terminal::nua_callback(nua_event_t event, int status, char const* phrase, nua_t*, nua_magic_t* magic,
                            nua_handle_t* nh, nua_hmagic_t*, sip_t const* sip, tagi_t tags[]) {
  auto* self = reinterpret_cast<Terminal*>(magic);
  if (getenv("HOMESIP_UA_DEBUG"))
    std::fprintf(stderr, "event %s %d %s\n", nua_event_name(event), status, phrase ? phrase : "");
  if (event == nua_r_shutdown) {
    if (status >= 200) su_root_break(self->root_);
    return;
  }
  self->on_event(Event{event, status, phrase ? phrase : "", nh, sip, tags});
}

void Terminal::timer_callback(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
  auto* t = reinterpret_cast<Timer*>(arg);
  t->fn();
}

void Terminal::signal_poll(su_root_magic_t* magic, su_timer_t*, su_timer_arg_t*) {
  auto* self = reinterpret_cast<Terminal*>(magic);
  if (!g_stop || self->stop_seen_) return;
  self->stop_seen_ = true;
  self->say("stopping (signal)");
  self->on_stop_signal();
}

void Terminal::say(const std::string& line) {
  FILE* out = g_steps_to_stderr ? stderr : stdout;
  std::fputs((line + "\n").c_str(), out);
  std::fflush(out);
}

void Terminal::print(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

std::string Terminal::response_line(const std::string& method, const std::string& subject,
                                    const std::string& dest, const Event& e) {
  std::string line =
      method + " " + subject + " -> " + dest + ": " + std::to_string(e.status) + " " + e.phrase;
  const sip_via_t* via = e.sip ? e.sip->sip_via : nullptr;
  // Only on the last answer of a chain: one NAT note per command is enough.
  if (via && (e.status < 300 || e.status >= 400) && (via->v_received || (via->v_rport && *via->v_rport))) {
    const std::string host = via->v_received ? via->v_received : via->v_host;
    const std::string port =
        via->v_rport && *via->v_rport ? via->v_rport : (via->v_port ? via->v_port : "5060");
    line += " (server saw us at " + host + ":" + port + ")";
  }
  return line;
}

std::vector<ContactChoice> Terminal::contacts_of(const sip_t* sip) {
  std::vector<ContactChoice> out;
  for (const sip_contact_t* m = sip ? sip->sip_contact : nullptr; m; m = m->m_next) {
    if (m->m_url->url_type == url_any) continue;  // "*" is no place to go
    out.push_back(ContactChoice{url_text(m->m_url), m->m_q ? std::strtod(m->m_q, nullptr) : 1.0});
  }
  return out;
}

std::string Terminal::body_of(const sip_t* sip) {
  if (!sip || !sip->sip_payload || !sip->sip_payload->pl_data) return "";
  return std::string(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

int Terminal::redirect_failure(RedirectChain::Verdict v, const std::string& target, int max) {
  switch (v) {
    case RedirectChain::Verdict::kTooMany:
      say("too many redirects (more than " + std::to_string(max) + "); next would be " + target);
      return kExitRedirects;
    case RedirectChain::Verdict::kLoop:
      say("redirect loop: " + target + " was already tried");
      return kExitRedirects;
    case RedirectChain::Verdict::kNoContact:
    case RedirectChain::Verdict::kFollow:
      break;
  }
  say("redirect without a usable Contact");
  return kExitFailed;
}

std::string Terminal::sdp() const {
  const std::string host = media_host(options_.listen);
  return "v=0\r\no=homesip-ua 1 1 IN IP4 " + host + "\r\ns=homesip-ua\r\nc=IN IP4 " + host +
         "\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
}

}  // namespace homesip::ua
