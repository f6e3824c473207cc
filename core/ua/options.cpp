#include "options.hpp"

#include <cstdlib>
#include <map>
#include <vector>

namespace homesip::ua {
namespace {

Command command_named(const std::string& name) {
  static const std::map<std::string, Command> kCommands = {{"register", Command::kRegister},
                                                           {"call", Command::kCall},
                                                           {"answer", Command::kAnswer},
                                                           {"message", Command::kMessage}};
  const auto it = kCommands.find(name);
  if (it == kCommands.end()) throw UsageError("unknown command '" + name + "'");
  return it->second;
}

double number(const std::string& option, const std::string& value, double min) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || v < min)
    throw UsageError(option + " needs a number >= " + std::to_string(static_cast<int>(min)) + ", not '" +
                     value + "'");
  return v;
}

int integer(const std::string& option, const std::string& value, int min) {
  const double v = number(option, value, min);
  if (v != static_cast<int>(v)) throw UsageError(option + " needs a whole number, not '" + value + "'");
  return static_cast<int>(v);
}

std::string sip_uri(const std::string& option, const std::string& value) {
  if (value.rfind("sip:", 0) != 0 && value.rfind("sips:", 0) != 0)
    throw UsageError(option + " needs a sip: URI, e.g. sip:127.0.0.1:5060, not '" + value + "'");
  return value;
}

// Applies one "--name value" (or flag); returns how many arguments it used.
int apply(Options& o, const std::string& name, const char* value) {
  static const std::vector<std::string> kFlags = {"--once", "--unregister"};
  for (const auto& f : kFlags)
    if (name == f) {
      (name == "--once" ? o.once : o.unregister) = true;
      return 1;
    }
  if (!value) throw UsageError(name + " needs a value");
  const std::string v = value;
  if (name == "--aor")
    o.aor = aor_uri(v);
  else if (name == "--to")
    o.to = aor_uri(v);
  else if (name == "--server")
    o.server = sip_uri(name, v);
  else if (name == "--listen")
    o.listen = listen_url(v);
  else if (name == "--contact")
    o.contact = sip_uri(name, v);
  else if (name == "--text")
    o.text = v;
  else if (name == "--expires")
    o.expires = static_cast<unsigned>(integer(name, v, 0));
  else if (name == "--max-redirects")
    o.max_redirects = integer(name, v, 0);
  else if (name == "--duration")
    o.duration = number(name, v, 0);
  else if (name == "--calls")
    o.calls = integer(name, v, 0);
  else if (name == "--timeout")
    o.timeout = number(name, v, 0);
  else
    throw UsageError("unknown option " + name);
  return 2;
}

void check(const Options& o) {
  if (o.aor.empty()) throw UsageError("--aor is required");
  if (o.server.empty()) throw UsageError("--server is required");
  const bool needs_to = o.command == Command::kCall || o.command == Command::kMessage;
  if (needs_to && o.to.empty()) throw UsageError("--to is required");
  if (o.command == Command::kMessage && o.text.empty()) throw UsageError("--text is required");
}

}  // namespace

std::string aor_uri(const std::string& text) {
  const std::string bare = text.rfind("sip:", 0) == 0 ? text.substr(4) : text;
  const auto at = bare.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == bare.size() ||
      bare.find_first_of(":;<> ") != std::string::npos)
    throw UsageError("'" + text + "' is not an address of record like U1@C1.D1.H1");
  return "sip:" + bare;
}

std::string listen_url(const std::string& text) {
  const auto colon = text.find(':');
  const std::string transport = colon == std::string::npos ? "" : text.substr(0, colon);
  if (transport != "udp" && transport != "tcp")
    throw UsageError("--listen needs udp:HOST:PORT or tcp:HOST:PORT, not '" + text + "'");
  return "sip:" + text.substr(colon + 1) + ";transport=" + transport;
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) throw UsageError("no command given");
  Options o;
  o.command = command_named(argv[1]);
  for (int i = 2; i < argc;) {
    const std::string name = argv[i];
    i += apply(o, name, i + 1 < argc ? argv[i + 1] : nullptr);
  }
  check(o);
  return o;
}

std::string usage() {
  return "usage:\n"
         "  homesip-ua register --aor U@DOMAIN --server SIP-URI [--listen udp:HOST:PORT] [--contact "
         "SIP-URI]\n"
         "                      [--expires 3600] [--max-redirects 5] [--once] [--unregister]\n"
         "  homesip-ua call     --aor U@DOMAIN --to U@DOMAIN --server SIP-URI [--listen ...] [--duration 2]\n"
         "                      [--max-redirects 5]\n"
         "  homesip-ua answer   --aor U@DOMAIN --server SIP-URI [--listen ...] [--contact SIP-URI] [--calls "
         "1]\n"
         "                      [--timeout S] [--expires 3600] [--max-redirects 5]\n"
         "  homesip-ua message  --aor U@DOMAIN --to U@DOMAIN --server SIP-URI --text TEXT [--max-redirects "
         "5]\n"
         "exit codes: 0 ok, 1 usage, 2 failed (error response, timeout), 3 too many redirects or a loop\n";
}

}  // namespace homesip::ua
