#include "options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

namespace homesip::ua {
namespace {

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

std::string readable_file(const std::string& option, const std::string& value) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(value, error) || ::access(value.c_str(), R_OK) != 0)
    throw UsageError(option + " needs a readable file, not '" + value + "'");
  return std::filesystem::absolute(value).string();
}

// An option whose text `store` checks and keeps. Its UsageError reaches the user
// as is: the message already names the option, which a CLI11 check would add again.
CLI::Option* add_value(CLI::App& cmd, const std::string& name, const std::string& help,
                       std::function<void(const std::string&)> store) {
  return cmd.add_option_function<std::string>(
      name,
      [store = std::move(store)](const std::string& value) {
        try {
          store(value);
        } catch (const UsageError& e) {
          throw CLI::ValidationError(e.what());
        }
      },
      help);
}

// A default as --help shows it: "2", not std::to_string's "2.000000".
std::string shown(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// Where we listen and how far we follow the tree: every command that walks it.
void add_walk_options(CLI::App& cmd, Options& o) {
  add_value(cmd, "--listen", "our address, udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT",
            [&o](const std::string& v) { o.listen = listen_url(v); })
      ->type_name("ADDRESS")
      ->default_str("udp:127.0.0.1:0");
  add_value(cmd, "--max-redirects", "redirects to follow; one more, or a loop, exits 3",
            [&o](const std::string& v) { o.max_redirects = integer("--max-redirects", v, 0); })
      ->type_name("N")
      ->default_str(std::to_string(o.max_redirects));
  add_value(cmd, "--max-retry-after", "wait for a 503's Retry-After and retry when it is at most S seconds",
            [&o](const std::string& v) {
              o.max_retry_after = static_cast<unsigned>(integer("--max-retry-after", v, 0));
            })
      ->type_name("S")
      ->default_str(std::to_string(o.max_retry_after));
  add_value(cmd, "--user", "who we authenticate as (digest username: its user part; default: the AOR)",
            [&o](const std::string& v) { o.user = aor_uri(v); })
      ->type_name("U@DOMAIN");
  add_value(cmd, "--password-file", "answer 401/407 challenges with the first line of FILE (mode 0600)",
            [&o](const std::string& v) { o.password = read_password_file(v); })
      ->type_name("FILE");
  add_value(cmd, "--ca",
            "CA certificate file (PEM) that signs the servers' certificates: enables sips: (TLS)",
            [&o](const std::string& v) { o.ca_file = readable_file("--ca", v); })
      ->type_name("FILE");
}

// Every command: who we are, where the tree starts, how far to follow it.
void add_common(CLI::App& cmd, Options& o) {
  add_value(cmd, "--aor", "our address of record, e.g. U1@C1.D1.H1",
            [&o](const std::string& v) { o.aor = aor_uri(v); })
      ->type_name("U@DOMAIN")
      ->required();
  add_value(cmd, "--server", "first server, e.g. sip:127.0.0.1:5110",
            [&o](const std::string& v) { o.server = sip_uri("--server", v); })
      ->type_name("SIP-URI")
      ->required();
  add_walk_options(cmd, o);
}

// Who is called or sent to; declared after --aor/--server so that a missing one
// is reported in the same order as before.
void add_to(CLI::App& cmd, Options& o) {
  add_value(cmd, "--to", "the callee's address of record", [&o](const std::string& v) { o.to = aor_uri(v); })
      ->type_name("U@DOMAIN")
      ->required();
}

// register and answer: the binding made at the family server.
void add_binding(CLI::App& cmd, Options& o) {
  add_value(cmd, "--contact", "Contact of the binding (default: our listen address)",
            [&o](const std::string& v) { o.contact = sip_uri("--contact", v); })
      ->type_name("SIP-URI");
  add_value(cmd, "--expires", "seconds the binding lasts",
            [&o](const std::string& v) { o.expires = static_cast<unsigned>(integer("--expires", v, 0)); })
      ->type_name("S")
      ->default_str(std::to_string(o.expires));
  add_value(cmd, "--certificates", "directory with our agent.pem (key + certificate), for --listen tls:",
            [&o](const std::string& v) {
              o.certificates = std::filesystem::absolute(v).string();
              readable_file("--certificates", o.certificates + "/agent.pem");
            })
      ->type_name("DIR");
}

void add_register(CLI::App& cmd, Options& o) {
  add_common(cmd, o);
  add_binding(cmd, o);
  cmd.add_flag("--once", o.once, "exit after the 200, leaving the binding until it expires");
  cmd.add_flag("--unregister", o.unregister, "remove the binding (Contact: * without --contact/--listen)");
}

void add_call(CLI::App& cmd, Options& o) {
  add_common(cmd, o);
  add_to(cmd, o);
  add_value(cmd, "--duration", "seconds before the BYE",
            [&o](const std::string& v) { o.duration = number("--duration", v, 0); })
      ->type_name("S")
      ->default_str(shown(o.duration));
}

void add_answer(CLI::App& cmd, Options& o) {
  add_common(cmd, o);
  add_binding(cmd, o);
  add_value(cmd, "--calls", "calls to answer before exiting 0 (0: unlimited)",
            [&o](const std::string& v) { o.calls = integer("--calls", v, 0); })
      ->type_name("N")
      ->default_str(std::to_string(o.calls));
  add_value(cmd, "--timeout", "give up (exit 2) after this many seconds (0: never)",
            [&o](const std::string& v) { o.timeout = number("--timeout", v, 0); })
      ->type_name("S")
      ->default_str(shown(o.timeout));
}

void add_message(CLI::App& cmd, Options& o) {
  add_common(cmd, o);
  add_to(cmd, o);
  add_value(cmd, "--text", "the text/plain body", [&o](const std::string& v) { o.text = v; })
      ->type_name("TEXT")
      ->required();
}

// locate AOR --top URI: no AOR of our own, only the tree's top to start at.
void add_locate(CLI::App& cmd, Options& o) {
  cmd.add_option_function<std::string>(
         "aor",
         [&o](const std::string& v) {
           try {
             o.to = aor_uri(v);
           } catch (const UsageError& e) {
             throw CLI::ValidationError(e.what());
           }
         },
         "the address of record to find, e.g. U1@C1.D1.H1")
      ->type_name("U@DOMAIN")
      ->required();
  add_value(cmd, "--top", "the tree's top server, e.g. sip:127.0.0.1:5110",
            [&o](const std::string& v) { o.server = sip_uri("--top", v); })
      ->type_name("SIP-URI")
      ->required();
  add_walk_options(cmd, o);
}

// control/state/watch: the entities are addressed like users, from the tree's
// top (--server); --aor (our From) defaults to --user.
void add_appliance_common(CLI::App& cmd, Options& o) {
  add_value(cmd, "--server", "first server (the tree's top), e.g. sip:127.0.0.1:5110",
            [&o](const std::string& v) { o.server = sip_uri("--server", v); })
      ->type_name("SIP-URI")
      ->required();
  add_value(cmd, "--aor", "our address of record, the From (default: --user)", [&o](const std::string& v) {
    o.aor = aor_uri(v);
  })->type_name("U@DOMAIN");
  add_walk_options(cmd, o);
  cmd.add_flag("--json", o.json, "print the JSON bodies only (the steps go to stderr)");
}

void add_entity(CLI::App& cmd, Options& o, const char* help) {
  cmd.add_option_function<std::string>(
         "entity",
         [&o](const std::string& v) {
           try {
             o.entities = {aor_uri(v)};
           } catch (const UsageError&) {
             throw CLI::ValidationError("'" + v + "' is not an entity like light.kitchen@C1.D1.H1");
           }
         },
         help)
      ->type_name("ENTITY_URI")
      ->required();
}

void add_control(CLI::App& cmd, Options& o) {
  add_entity(cmd, o, "the entity, e.g. light.kitchen@C1.D1.H1");
  cmd.add_option("service", o.service, "the service, e.g. turn_on")->type_name("SERVICE")->required();
  cmd.add_option_function<std::vector<std::string>>(
         "data",
         [&o](const std::vector<std::string>& words) {
           try {
             o.data_json = service_data(words);
           } catch (const UsageError& e) {
             throw CLI::ValidationError(e.what());
           }
         },
         "the service's data as key=value, e.g. brightness=128")
      ->type_name("KEY=VALUE");
  add_appliance_common(cmd, o);
}

void add_state(CLI::App& cmd, Options& o) {
  add_entity(cmd, o, "the entity, e.g. light.kitchen@C1.D1.H1");
  add_appliance_common(cmd, o);
}

void add_watch(CLI::App& cmd, Options& o) {
  cmd.add_option_function<std::vector<std::string>>(
         "entities",
         [&o](const std::vector<std::string>& values) {
           o.entities.clear();
           for (const std::string& v : values) {
             try {
               o.entities.push_back(aor_uri(v));
             } catch (const UsageError&) {
               throw CLI::ValidationError("'" + v + "' is not an entity like light.kitchen@C1.D1.H1");
             }
           }
         },
         "the entities to watch, e.g. light.kitchen@C1.D1.H1")
      ->type_name("ENTITY_URI")
      ->required();
  add_appliance_common(cmd, o);
  add_value(cmd, "--expires", "seconds a subscription lasts (refreshed before)",
            [&o](const std::string& v) { o.expires = static_cast<unsigned>(integer("--expires", v, 1)); })
      ->type_name("S")
      ->default_str("600");
}

struct Subcommand {
  const char* name;
  Command command;
  const char* help;
  void (*add)(CLI::App&, Options&);
};

constexpr Subcommand kSubcommands[] = {
    {"register", Command::kRegister, "register through the tree, following each 302", add_register},
    {"call", Command::kCall, "call an address of record, following each 302; hang up after --duration",
     add_call},
    {"answer", Command::kAnswer, "register, then answer calls and messages", add_answer},
    {"message", Command::kMessage, "send a MESSAGE, following each 302; print the reply", add_message},
    {"locate", Command::kLocate,
     "find an address of record's family server from the top (OPTIONS, following each 302); print it "
     "with a baresip account line and linphone settings",
     add_locate},
    {"control", Command::kControl,
     "call an entity's service (MESSAGE with JSON, through the tree); print its state", add_control},
    {"state", Command::kState, "print an entity's state (MESSAGE {}, through the tree)", add_state},
    {"watch", Command::kWatch,
     "subscribe to entities (homesip-entity) and print each change until SIGTERM/SIGINT", add_watch},
};

// CLI11 would only say "A subcommand is required" for a word that names none.
void check_command_word(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return;
  for (const auto& sub : kSubcommands)
    if (std::string(argv[1]) == sub.name) return;
  throw CLI::ValidationError("unknown command '" + std::string(argv[1]) + "'");
}

std::string failure_message(const CLI::App* app, const CLI::Error& e) {
  return "homesip-ua: " + CLI::FailureMessage::simple(app, e);
}

// What one option allows only with another, checked once all are read.
void check_tls(const Options& o) {
  const bool tls_listen = o.listen.rfind("sips:", 0) == 0;
  if (o.ca_file.empty() && o.server.rfind("sips:", 0) == 0)
    throw UsageError("a sips: server needs --ca FILE, the CA that signed its certificate");
  if (o.ca_file.empty() && tls_listen) throw UsageError("--listen tls: needs --ca FILE");
  if (tls_listen && o.certificates.empty())
    throw UsageError("--listen tls: needs --certificates DIR with our agent.pem");
}

}  // namespace

std::string read_password_file(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode))
    throw UsageError("--password-file: no file '" + path + "'");
  if (status.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
    throw UsageError("--password-file " + path + " is open to others (mode " + mode + "): chmod 600 " + path);
  }
  std::ifstream file(path);
  std::string password;
  if (!file || !std::getline(file, password))
    throw UsageError("--password-file " + path + " cannot be read or is empty");
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) throw UsageError("--password-file " + path + ": the first line is empty");
  return password;
}

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
  if (transport != "udp" && transport != "tcp" && transport != "tls")
    throw UsageError("--listen needs udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT, not '" + text + "'");
  if (transport == "tls") return "sips:" + text.substr(colon + 1);
  return "sip:" + text.substr(colon + 1) + ";transport=" + transport;
}

std::string service_data(const std::vector<std::string>& words) {
  nlohmann::json data = nlohmann::json::object();
  for (const std::string& word : words) {
    const auto equals = word.find('=');
    if (equals == std::string::npos || equals == 0)
      throw UsageError("service data must be key=value, not '" + word + "'");
    const std::string value = word.substr(equals + 1);
    const auto parsed = nlohmann::json::parse(value, nullptr, false);
    data[word.substr(0, equals)] = parsed.is_number() || parsed.is_boolean() ? parsed : nlohmann::json(value);
  }
  return data.dump();
}

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  CLI::App app("homesip-ua: a terminal of the homesip tree (redirect registration and calls)", "homesip-ua");
  app.require_subcommand(1);
  app.failure_message(failure_message);
  app.footer(
      "exit codes: 0 ok, 1 usage, 2 failed (error response, timeout; control/state/watch: refused), 3 too "
      "many "
      "redirects or a loop (control/state/watch: unreachable, 408, 5xx)");
  for (const auto& sub : kSubcommands) sub.add(*app.add_subcommand(sub.name, sub.help), o);
  try {
    check_command_word(argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;  // CLI11's codes (100+) are not ours
  }
  for (const auto& sub : kSubcommands)
    if (app.got_subcommand(sub.name)) o.command = sub.command;
  try {
    check_tls(o);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "homesip-ua: %s\n", e.what());
    return kExitUsage;
  }
  // locate asks for nobody: its queries' From is no one's (RFC 6761 .invalid).
  if (o.command == Command::kLocate) o.aor = "sip:homesip-ua@locate.invalid";
  // control/state/watch: From is who we authenticate as, or no one (RFC 6761 .invalid).
  const bool appliance =
      o.command == Command::kControl || o.command == Command::kState || o.command == Command::kWatch;
  if (appliance && o.aor.empty()) o.aor = o.user.empty() ? "sip:homesip-ua@anonymous.invalid" : o.user;
  if (appliance) o.to = o.entities.front();
  if (o.command == Command::kWatch && app.get_subcommand("watch")->count("--expires") == 0) o.expires = 600;
  if (o.user.empty()) o.user = o.aor;
  return std::nullopt;
}

}  // namespace homesip::ua
