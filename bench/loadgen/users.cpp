#include "users.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>

#include "homesip/digest/digest.hpp"

namespace homesip::loadgen {

namespace digest = homesip::digest;

std::string UserSet::name(uint64_t index) const { return prefix + std::to_string(first + index); }

std::string UserSet::password(std::string_view user) const {
  return digest::hash_hex(digest::Algorithm::kSha256, seed + ":" + std::string(user)).substr(0, 16);
}

void write_kamailio_sql(const UserSet& users, std::ostream& out) {
  out << "BEGIN;\n";
  for (uint64_t i = 0; i < users.count; ++i) {
    const std::string user = users.name(i);
    const std::string password = users.password(user);
    out << "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ('" << user << "', '"
        << users.domain << "', '', '" << digest::ha1(digest::Algorithm::kMd5, user, users.domain, password)
        << "', '" << digest::ha1(digest::Algorithm::kMd5, user + "@" + users.domain, users.domain, password)
        << "');\n";
  }
  out << "COMMIT;\n";
}

namespace {

class AdminConnection {
 public:
  explicit AdminConnection(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) throw std::runtime_error("socket path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("cannot reach homesipd at " + path + ": " + std::strerror(errno));
    timeval timeout{30, 0};  // a store write per user: bounded, generous
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~AdminConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  void send(const std::string& text) {
    for (size_t done = 0; done < text.size();) {
      const ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error(std::string("admin socket: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
  }
  std::string read_line() {
    for (;;) {
      if (const auto end = buffer_.find('\n'); end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return line;
      }
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) throw std::runtime_error("admin socket closed or silent before every user was answered");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

std::string put_request(const UserSet& users, uint64_t index, const std::string& role) {
  const std::string user = users.name(index);
  const std::string password = users.password(user);
  const nlohmann::json argv = {
      user + "@" + users.domain, role,
      "MD5:" + digest::ha1(digest::Algorithm::kMd5, user, users.domain, password),
      "SHA-256:" + digest::ha1(digest::Algorithm::kSha256, user, users.domain, password)};
  return nlohmann::json{{"command", "auth-digest.user-put"}, {"args", {{"argv", argv}}}}.dump() + "\n";
}

}  // namespace

void put_users(const UserSet& users, const std::string& admin_socket, const std::string& role) {
  // Windows of requests: enough in flight to keep the store busy, few enough for the socket's buffers.
  constexpr uint64_t kWindow = 256;
  AdminConnection connection(admin_socket);
  for (uint64_t begin = 0; begin < users.count; begin += kWindow) {
    const uint64_t end = std::min(users.count, begin + kWindow);
    std::string batch;
    for (uint64_t i = begin; i < end; ++i) batch += put_request(users, i, role);
    connection.send(batch);
    for (uint64_t i = begin; i < end; ++i) {
      const std::string line = connection.read_line();
      const auto answer = nlohmann::json::parse(line, nullptr, false);
      if (!answer.is_object() || answer.value("ok", false) != true)
        throw std::runtime_error("homesipd refused a user: " + line);
    }
  }
}

}  // namespace homesip::loadgen
