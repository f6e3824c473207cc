#include "admin_socket.hpp"

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "event_loop.hpp"

namespace homesip::core {
namespace {

// A request line longer than this is no homesipctl request.
constexpr size_t kMaxRequest = 65536;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path)
    throw std::runtime_error("admin socket '" + path + "': a path of 1 to " +
                             std::to_string(sizeof address.sun_path - 1) + " characters is needed");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// A socket file nobody answers on is what a killed server left: remove it.
// One somebody answers on belongs to a running server.
void remove_stale(const std::string& path, const sockaddr_un& address) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return;
  if (!S_ISSOCK(info.st_mode))
    throw std::runtime_error("admin socket '" + path + "': a file that is no socket is there");
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live =
      probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  if (probe >= 0) ::close(probe);
  if (live) throw std::runtime_error("admin socket '" + path + "': another server answers there");
  ::unlink(path.c_str());
}

}  // namespace

// One homesipctl connection: reads request lines, writes answer lines.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(AdminSocket& owner, int fd) : owner_(&owner), fd_(fd) {}
  ~AdminConnection() { close(); }

  bool open() {
    su_wait_t wait[1];
    su_wait_create(wait, fd_, SU_WAIT_IN);
    registration_ = su_root_register(owner_->loop_.root(), wait, &AdminConnection::on_event,
                                     reinterpret_cast<su_wakeup_arg_t*>(this), 0);
    return registration_ >= 0;
  }
  void close() {
    if (fd_ < 0) return;
    if (registration_ >= 0) su_root_deregister(owner_->loop_.root(), registration_);
    registration_ = -1;
    ::close(fd_);
    const int fd = fd_;
    fd_ = -1;
    if (owner_) owner_->connections_.erase(fd);
  }
  void detach() {
    close();
    owner_ = nullptr;
  }
  void answer(const nlohmann::json& answer) {
    if (pending_ > 0) --pending_;
    if (fd_ < 0) return;
    output_ += answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    output_ += '\n';
    write_pending();
  }

 private:
  static int on_event(su_root_magic_t*, su_wait_t* wait, su_wakeup_arg_t* arg) {
    auto* self = reinterpret_cast<AdminConnection*>(arg);
    const auto keep = self->shared_from_this();
    const int events = su_wait_events(wait, self->fd_);
    if (events & SU_WAIT_OUT) self->write_pending();
    if (self->fd_ >= 0 && (events & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR))) self->read_available();
    // Hung up in both directions (or broken): no answer can reach it, and the
    // socket would stay readable while a command's answer is still on its way.
    if (self->fd_ >= 0 && (events & (SU_WAIT_HUP | SU_WAIT_ERR))) self->close();
    return 0;
  }

  void read_available() {
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      // The peer is done asking (homesipctl shuts down writing after its
      // line); answers still due -- a plugin command answering later -- go
      // out before the connection closes.
      reading_done_ = true;
      if (output_.empty() && pending_ == 0)
        close();
      else
        watch();
      return;
    }
    if (n < 0) return;
    input_.append(chunk, static_cast<size_t>(n));
    for (size_t end; (end = input_.find('\n')) != std::string::npos;) {
      const std::string line = input_.substr(0, end);
      input_.erase(0, end + 1);
      std::weak_ptr<AdminConnection> weak = weak_from_this();
      ++pending_;
      owner_->run(line, [weak](const nlohmann::json& answer) {
        if (auto connection = weak.lock()) connection->answer(answer);
      });
      if (fd_ < 0) return;
    }
    if (input_.size() > kMaxRequest) close();
  }

  void write_pending() {
    while (fd_ >= 0 && sent_ < output_.size()) {
      const ssize_t n =
          ::send(fd_, output_.data() + sent_, output_.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (n <= 0) {
        close();
        return;
      }
      sent_ += static_cast<size_t>(n);
    }
    // Erased once all of it is out: erasing each sent piece moved the rest
    // every time, quadratic in a big answer (the loop stalled for seconds).
    if (sent_ == output_.size()) {
      output_.clear();
      sent_ = 0;
    }
    if (fd_ < 0) return;
    if (output_.empty() && reading_done_ && pending_ == 0) {
      close();
      return;
    }
    watch();
  }

  // Readable while the peer may still ask, writable while output waits.
  void watch() {
    su_root_eventmask(owner_->loop_.root(), registration_, fd_,
                      (reading_done_ ? 0 : SU_WAIT_IN) | (output_.empty() ? 0 : SU_WAIT_OUT));
  }

  AdminSocket* owner_;
  int fd_;
  int registration_ = -1;
  bool reading_done_ = false;
  size_t pending_ = 0;  // requests read whose answer has not come yet
  std::string input_;
  std::string output_;
  size_t sent_ = 0;  // of output_, the bytes already sent
};

CommandRegistry::CommandRegistry() {
  add("help", "the commands and what they do",
      [this](const nlohmann::json&, Respond respond) { respond(help()); });
}

void CommandRegistry::add(const std::string& name, const std::string& help, Command command) {
  commands_[name] = Entry{help, std::move(command)};
}

nlohmann::json CommandRegistry::help() const {
  nlohmann::json list = nlohmann::json::object();
  for (const auto& [name, entry] : commands_) list[name] = entry.help;
  return list;
}

void CommandRegistry::run(const std::string& name, const nlohmann::json& args, const Answer& answer) const {
  const auto found = commands_.find(name);
  if (found == commands_.end()) return answer(Outcome::kUnknown, "unknown command '" + name + "' (try help)");
  try {
    found->second.command(args, [answer](nlohmann::json result) {
      // A command that failed (the store was unavailable) answers {"error": ...} alone.
      if (result.is_object() && result.size() == 1 && result.contains("error"))
        return answer(Outcome::kFailed, result["error"]);
      answer(Outcome::kDone, std::move(result));
    });
  } catch (const std::exception& e) {
    answer(Outcome::kRefused, e.what());
  }
}

AdminSocket::AdminSocket(SofiaEventLoop& loop, std::string path, const CommandRegistry& commands,
                         std::shared_ptr<spdlog::logger> log)
    : loop_(loop), path_(std::move(path)), log_(std::move(log)), commands_(commands) {
  const sockaddr_un address = address_of(path_);
  remove_stale(path_, address);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::chmod(path_.c_str(), 0600) != 0 || ::listen(fd_, 16) != 0) {
    const int error = errno;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("admin socket '" + path_ + "': " + std::strerror(error));
  }
  su_wait_t wait[1];
  su_wait_create(wait, fd_, SU_WAIT_ACCEPT);
  registration_ =
      su_root_register(loop_.root(), wait, reinterpret_cast<su_wakeup_f>(&AdminSocket::on_acceptable),
                       reinterpret_cast<su_wakeup_arg_t*>(this), 0);
  log_->info("admin socket at {}", path_);
}

AdminSocket::~AdminSocket() {
  auto connections = std::move(connections_);
  connections_.clear();
  for (auto& [fd, connection] : connections) connection->detach();
  if (registration_ >= 0) su_root_deregister(loop_.root(), registration_);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

int AdminSocket::on_acceptable(void*, void*, void* self) {
  static_cast<AdminSocket*>(self)->accept_connections();
  return 0;
}

void AdminSocket::accept_connections() {
  for (;;) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (connections_.size() >= 64) {  // an operator's tool, not a service: a few at a time
      ::close(fd);
      continue;
    }
    auto connection = std::make_shared<AdminConnection>(*this, fd);
    connections_.emplace(fd, connection);
    if (!connection->open()) connection->close();
  }
}

void AdminSocket::run(const std::string& line, const std::function<void(const nlohmann::json&)>& answer) {
  const auto fail = [&](const std::string& error) { answer({{"ok", false}, {"error", error}}); };
  nlohmann::json request;
  try {
    request = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    return fail("not JSON: one {\"command\": NAME, \"args\": {...}} per line");
  }
  if (!request.is_object() || !request.contains("command") || !request["command"].is_string())
    return fail("no \"command\"");
  const nlohmann::json args = request.value("args", nlohmann::json::object());
  using Outcome = CommandRegistry::Outcome;
  commands_.run(request["command"], args, [answer](Outcome outcome, nlohmann::json value) {
    // A command's own {"error": ...} stays a result, as homesipctl has always read it.
    if (outcome == Outcome::kDone) return answer({{"ok", true}, {"result", std::move(value)}});
    if (outcome == Outcome::kFailed) return answer({{"ok", true}, {"result", {{"error", std::move(value)}}}});
    answer({{"ok", false}, {"error", std::move(value)}});
  });
}

}  // namespace homesip::core
