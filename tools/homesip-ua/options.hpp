// Command line of homesip-ua: one subcommand, its options, exit codes.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace homesip::ua {

// Exit codes, documented in README.md beside this file.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;
inline constexpr int kExitFailed = 2;     // a final error response, a timeout, a bind failure
inline constexpr int kExitRedirects = 3;  // too many redirects, a redirect loop, 483

enum class Command { kRegister, kCall, kAnswer, kMessage, kLocate, kControl, kState, kWatch };

// control/state/watch (appliances, docs/appliances.md): a refusal (400/403/404)
// exits kExitFailed; a server that cannot be reached or answers 408/5xx exits
// kExitUnreachable (the value of kExitRedirects: a redirect loop is unreachable too).
inline constexpr int kExitUnreachable = 3;

struct Options {
  Command command = Command::kRegister;
  std::string aor;                                       // "sip:U1@C1.D1.H1"
  std::string to;                                        // callee AOR for call/message, the AOR to locate
  std::string server;                                    // first hop, "sip:127.0.0.1:5110" (locate: --top)
  std::string listen = "sip:127.0.0.1:0;transport=udp";  // nua's NUTAG_URL
  std::string contact;  // explicit Contact for REGISTER; empty: nua's own address
  std::string text;
  unsigned expires = 3600;
  int max_redirects = 5;
  // A 503's Retry-After we wait for and retry (seconds); a longer one is final.
  // 10 covers servers' overload 503s (5..10 s), not a device offline (30 s).
  unsigned max_retry_after = 10;
  bool once = false;
  bool unregister = false;
  double duration = 2;
  int calls = 1;
  double timeout = 0;  // answer: give up after this many seconds (0: never)
  // TLS (sips: URIs): the CA file that signs the servers' certificates; the
  // directory with our own agent.pem when we listen on TLS (answer).
  std::string ca_file;
  std::string certificates;
  // Digest credentials: the identity (default: the AOR) and the password, the
  // first line of --password-file (never the command line).
  std::string user;
  std::string password;
  // control/state/watch: the entities (sip:light.kitchen@C1.D1.H1), the service
  // and its data (a JSON object from key=value words), JSON output.
  std::vector<std::string> entities;
  std::string service;
  std::string data_json = "{}";
  bool json = false;
};

// A value the user got wrong; the message names the option.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Parses argv into `o` (CLI11). Returns an exit code when the process should
// end now: kExitOk after --help (printed on stdout), kExitUsage after a usage
// error (printed on stderr); nothing when `o` is ready to run.
std::optional<int> parse_options(int argc, char** argv, Options& o);

// The first line of a password file that only its owner may read (as ssh
// wants of a private key). UsageError names the file and what is wrong.
std::string read_password_file(const std::string& path);

// "U1@C1.D1.H1" or "sip:U1@C1.D1.H1" -> "sip:U1@C1.D1.H1".
std::string aor_uri(const std::string& text);
// "udp:127.0.0.1:5000" -> "sip:127.0.0.1:5000;transport=udp";
// "tls:127.0.0.1:5001" -> "sips:127.0.0.1:5001".
std::string listen_url(const std::string& text);
// key=value words as a JSON object text: a value that reads as a JSON number,
// true or false is one; anything else is a string ("brightness=128 name=x" ->
// {"brightness":128,"name":"x"}). UsageError for a word without '='.
std::string service_data(const std::vector<std::string>& words);

}  // namespace homesip::ua
