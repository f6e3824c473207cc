#include "secret.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "homesip/settings.hpp"

namespace homesip::auth_digest {
namespace {

constexpr size_t kSecretBytes = 32;
constexpr size_t kMinSecretBytes = 16;
constexpr size_t kMaxSecretBytes = 4096;

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw ConfigError("secret_file", "secret_file " + path + ": " + why);
}

std::string create(const std::string& path) {
  unsigned char bytes[kSecretBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail(path, "no random bytes from OpenSSL");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail(path, std::string("cannot create it: ") + std::strerror(errno));
  // The umask may have taken bits away, never added any; be explicit all the same.
  const bool ok = ::fchmod(fd, 0600) == 0 &&
                  ::write(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    fail(path, std::string("cannot write it: ") + std::strerror(error));
  }
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

// The secret in an existing file; nullopt when there is no file at `path`.
std::optional<std::string> read_secret(const std::string& path) {
  if (path.empty()) fail(path, "empty path");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail(path, std::string("cannot open it: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    fail(path, std::string("cannot stat it: ") + std::strerror(error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail(path, std::string("mode ") + mode + " lets others read or change it; chmod 600 it");
  }
  std::string secret;
  char buffer[512];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      fail(path, std::string("cannot read it: ") + std::strerror(error));
    }
    if (n == 0) break;
    secret.append(buffer, static_cast<size_t>(n));
    if (secret.size() > kMaxSecretBytes) {
      ::close(fd);
      fail(path, "longer than " + std::to_string(kMaxSecretBytes) + " bytes");
    }
  }
  ::close(fd);
  if (secret.size() < kMinSecretBytes)
    fail(path, "shorter than " + std::to_string(kMinSecretBytes) +
                   " bytes (remove it and homesipd creates a new one)");
  return secret;
}

}  // namespace

std::string load_or_create_secret(const std::string& path) {
  std::optional<std::string> secret = read_secret(path);
  return secret ? std::move(*secret) : create(path);
}

void check_secret_file(const std::string& path) {
  if (read_secret(path)) return;
  const std::filesystem::path file(path);
  const std::string directory = file.has_parent_path() ? file.parent_path().string() : ".";
  if (::access(directory.c_str(), W_OK | X_OK) != 0)
    fail(path, "missing, and it cannot be created in " + directory + ": " + std::strerror(errno));
}

}  // namespace homesip::auth_digest
