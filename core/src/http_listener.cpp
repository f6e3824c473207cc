#include "http_listener.hpp"

#include <httplib.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "admin_commands.hpp"
#include "admin_socket.hpp"
#include "event_loop.hpp"
#include "homesip/http.hpp"
#include "metrics.hpp"
#include "plugin_host.hpp"

namespace homesip::core {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kCookie = "homesip_token";
constexpr auto kRefusalLogInterval = std::chrono::seconds(60);
constexpr size_t kRefusalSourcesKept = 1024;

// What the handler threads and the loop share: outlives the listener, since
// an answer may come from a plugin's thread after it is gone.
struct Shared {
  std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
};

// One request's answer, handed from the loop (or a plugin's thread) to the
// handler thread waiting for it.
struct Pending {
  std::shared_ptr<Shared> shared;
  bool done = false;  // under shared->mutex
  HttpResponse response;
  void complete(HttpResponse answer) {
    {
      std::lock_guard lock(shared->mutex);
      if (done) return;
      done = true;
      response = std::move(answer);
    }
    shared->changed.notify_all();
  }
};

HttpResponse json_response(int status, const nlohmann::json& value) {
  return {status, "application/json",
          value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

HttpResponse error_response(int status, const std::string& error) {
  return json_response(status, {{"error", error}});
}

std::string percent_encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The cookie `name`'s value in a Cookie header ("a=1; homesip_token=X").
std::string cookie_value(const std::string& header, std::string_view name) {
  size_t at = 0;
  while (at < header.size()) {
    while (at < header.size() && (header[at] == ' ' || header[at] == ';')) ++at;
    const size_t end = std::min(header.find(';', at), header.size());
    const std::string_view pair(header.data() + at, end - at);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      return std::string(pair.substr(name.size() + 1));
    at = end;
  }
  return {};
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer is looked at; the lengths differing is a difference too.
  const size_t n = std::max(a.size(), b.size());
  unsigned difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= x ^ y;
  }
  return difference == 0;
}

class HttpListener::Impl {
 public:
  Impl(const HttpSettings& settings, SofiaEventLoop& loop, const CommandRegistry& commands,
       const AdminSources& sources, std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds timeout)
      : settings_(settings),
        loop_(loop),
        commands_(commands),
        sources_(sources),
        log_(std::move(log)),
        timeout_(timeout) {
    configure();
    const std::string where = settings_.host.find(':') != std::string::npos
                                  ? "[" + settings_.host + "]:" + std::to_string(settings_.port)
                                  : settings_.host + ":" + std::to_string(settings_.port);
    if (!server_.bind_to_port(settings_.host, settings_.port))
      throw std::runtime_error("server.http.listen " + where + ": cannot listen there (in use?)");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    log_->info("HTTP listener at http://{}/ ({})", where,
               settings_.token.empty() ? "no token asked for" : "token from " + settings_.token_file);
  }

  ~Impl() {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
    }
    shared_->changed.notify_all();
    *alive_ = false;  // on the loop thread, as the tasks that read it
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  uint16_t port() const { return settings_.port; }

 private:
  void configure() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(4); };
    server_.set_read_timeout(5, 0);
    server_.set_write_timeout(5, 0);
    server_.set_keep_alive_timeout(5);
    server_.set_payload_max_length(64 * 1024);
    server_.set_default_headers({{"Cache-Control", "no-store"},
                                 {"X-Content-Type-Options", "nosniff"},
                                 {"Content-Security-Policy", "default-src 'self'"}});
    server_.Get(".*", [this](const httplib::Request& request, httplib::Response& response) {
      serve(request, response);
    });
    const auto refuse = [](const httplib::Request&, httplib::Response& response) {
      set(response, error_response(405, "only GET and HEAD are served here"));
      response.set_header("Allow", "GET, HEAD");
    };
    server_.Post(".*", refuse);
    server_.Put(".*", refuse);
    server_.Patch(".*", refuse);
    server_.Delete(".*", refuse);
    server_.Options(".*", refuse);
  }

  static void set(httplib::Response& response, const HttpResponse& answer) {
    response.status = answer.status;
    response.set_content(answer.body, answer.content_type.c_str());
  }

  void serve(const httplib::Request& request, httplib::Response& response) {
    if (!settings_.token.empty()) {
      if (request.has_param("token")) return exchange_token(request, response);
      if (!authorized(request)) return refuse(request, response, "no valid token");
    }
    set(response, answer(request));
  }

  bool authorized(const httplib::Request& request) const {
    const std::string authorization = request.get_header_value("Authorization");
    if (authorization.starts_with("Bearer ") &&
        constant_time_equal(std::string_view(authorization).substr(7), settings_.token))
      return true;
    const std::string cookie = cookie_value(request.get_header_value("Cookie"), kCookie);
    return !cookie.empty() && constant_time_equal(cookie, settings_.token);
  }

  // GET PATH?token=TOKEN: the token into a cookie, and on to PATH without it.
  void exchange_token(const httplib::Request& request, httplib::Response& response) {
    if (!constant_time_equal(request.get_param_value("token"), settings_.token))
      return refuse(request, response, "a wrong ?token=");
    // One leading '/': "//host/..." in Location would send the browser to another site.
    std::string location =
        "/" + request.path.substr(std::min(request.path.find_first_not_of('/'), request.path.size()));
    char separator = '?';
    for (const auto& [name, value] : request.params) {
      if (name == "token") continue;
      location += separator + percent_encoded(name) + "=" + percent_encoded(value);
      separator = '&';
    }
    response.status = 303;
    response.set_header("Location", location);
    response.set_header("Set-Cookie",
                        std::string(kCookie) + "=" + settings_.token + "; Path=/; HttpOnly; SameSite=Strict");
  }

  // 401, and a log line per source and minute: a scanner is not a log flood.
  void refuse(const httplib::Request& request, httplib::Response& response, const char* why) {
    set(response,
        error_response(401, "a token is needed: Authorization: Bearer TOKEN, or open ?token=TOKEN once"));
    response.set_header("WWW-Authenticate", "Bearer");
    const auto now = Clock::now();
    std::lock_guard lock(refusals_mutex_);
    if (refusals_.size() >= kRefusalSourcesKept) refusals_.clear();
    auto [last, first] = refusals_.try_emplace(request.remote_addr, now);
    if (!first && now - last->second < kRefusalLogInterval) return;
    last->second = now;
    log_->warn("HTTP {} {} from {}: 401, {} (logged once a minute per source)", request.method, request.path,
               request.remote_addr, why);
  }

  // The answer, worked out on the loop and waited for here, bounded.
  HttpResponse answer(const httplib::Request& request) {
    auto pending = std::make_shared<Pending>();
    pending->shared = shared_;
    HttpRequest asked{request.method, request.path, {}};
    std::vector<std::string> arguments;
    for (const auto& [name, value] : request.params) {
      asked.query.try_emplace(name, value);  // the first of a name kept
      if (name == "arg") arguments.push_back(value);
    }
    loop_.post([this, alive = alive_, pending, asked = std::move(asked), arguments = std::move(arguments)] {
      if (!*alive) return pending->complete(error_response(503, "the server is stopping"));
      try {
        route(asked, arguments, [pending](HttpResponse response) { pending->complete(std::move(response)); });
      } catch (const std::exception& e) {
        log_->error("HTTP {}: {}", asked.path, e.what());
        pending->complete(error_response(500, e.what()));
      }
    });
    std::unique_lock lock(shared_->mutex);
    shared_->changed.wait_for(lock, timeout_, [&] { return pending->done || shared_->stopping; });
    if (pending->done) return std::move(pending->response);
    pending->done = true;  // a late answer is dropped
    if (shared_->stopping) return error_response(503, "the server is stopping");
    return error_response(504, "no answer within " + std::to_string(timeout_.count()) + " ms");
  }

  // On the loop thread.
  void route(const HttpRequest& request, const std::vector<std::string>& arguments, const HttpDone& done) {
    const std::string& path = request.path;
    if (path == "/metrics")
      return done({200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(sources_)});
    if (path == "/api" || path == "/api/") return done(json_response(200, served_commands()));
    if (path.starts_with("/api/")) return run_command(path.substr(5), arguments, done);
    if (const PluginHttpRoute* claimed = plugin_route(path)) return claimed->handler(request, done);
    done({404, "text/plain; charset=utf-8", "nothing is served at " + path + "\n"});
  }

  void run_command(const std::string& name, const std::vector<std::string>& arguments, const HttpDone& done) {
    using Outcome = CommandRegistry::Outcome;
    if (!commands_.contains(name)) return done(error_response(404, "no command " + name));
    if (!settings_.serves_command(name))
      return done(error_response(403, "command " + name + " is not served over HTTP (server.http.commands)"));
    commands_.run(name, {{"argv", arguments}}, [done](Outcome outcome, nlohmann::json value) {
      if (outcome == Outcome::kDone) return done(json_response(200, value));
      done(json_response(outcome == Outcome::kUnknown ? 404 : 400, {{"error", std::move(value)}}));
    });
  }

  // The commands /api/ runs, with their help, as the admin socket's help lists them.
  nlohmann::json served_commands() const {
    nlohmann::json served = commands_.help();
    for (auto it = served.begin(); it != served.end();)
      it = settings_.serves_command(it.key()) ? std::next(it) : served.erase(it);
    return served;
  }

  // The route claimed for exactly `path`, else the longest claimed prefix
  // ending in '/' that `path` starts with.
  const PluginHttpRoute* plugin_route(const std::string& path) const {
    const PluginHttpRoute* best = nullptr;
    for (const PluginHttpRoute& route : sources_.plugins.http_routes()) {
      if (route.path == path) return &route;
      if (route.path.ends_with('/') && path.starts_with(route.path) &&
          (!best || route.path.size() > best->path.size()))
        best = &route;
    }
    return best;
  }

  HttpSettings settings_;
  SofiaEventLoop& loop_;
  const CommandRegistry& commands_;
  const AdminSources& sources_;
  std::shared_ptr<spdlog::logger> log_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // loop thread only
  std::mutex refusals_mutex_;
  std::map<std::string, Clock::time_point> refusals_;  // when each source's 401 was last logged
  httplib::Server server_;
  std::thread thread_;
};

HttpListener::HttpListener(const HttpSettings& settings, SofiaEventLoop& loop,
                           const CommandRegistry& commands, const AdminSources& sources,
                           std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds answer_timeout)
    : impl_(std::make_unique<Impl>(settings, loop, commands, sources, std::move(log), answer_timeout)) {}

HttpListener::~HttpListener() = default;

uint16_t HttpListener::port() const { return impl_->port(); }

}  // namespace homesip::core
