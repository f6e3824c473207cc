// The Debian packages (packaging/CMakeLists.txt, ./homesip package): cpack makes homesip and
// homesip-sdk-dev from this build tree, dpkg installs them on this machine, and the installed
// files are checked where an operator meets them: the unit, the system user, an installed
// server answering a REGISTER, the SDK building its example plugin, lintian, and a purge that
// leaves nothing behind. Changes the machine, so it runs only as root (CI) and only when no
// homesip package is installed already; the suite purges what it installed in any case.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kPackages = {"homesip-sdk-dev", "homesip"};  // purge order
const std::vector<std::string> kPlugins = {"registrar",   "tree",     "location-sqlite", "location-ldap",
                                           "auth-digest", "auth-tls", "policy"};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool installed(const std::string& package) {
  std::string out;
  return run({"dpkg-query", "-W", "-f=${db:Status-Status}", package}, &out) == 0 && out == "installed";
}

std::string query(const std::string& package, const std::string& field) {
  std::string out;
  run({"dpkg-query", "-W", "-f=${" + field + "}", package}, &out);
  return out;
}

class Package : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return skip("installs packages with dpkg: needs root (CI runs as root)");
    for (const auto& tool : {"cpack", "dpkg", "lintian"})
      if (run({"sh", "-c", std::string("command -v ") + tool}) != 0) return skip(std::string("no ") + tool);
    for (const auto& package : kPackages)
      if (installed(package)) return skip(package + " is installed already (not by this test): left alone");
    work_ = new TempDir;
    std::string out;
    // The build tree's own CPack config: the same packages as ./homesip package, from this build.
    if (run({"cpack", "-G", "DEB", "--config", build_dir() + "/CPackConfig.cmake", "-B",
             (*work_ / "debs").string()},
            &out, std::chrono::seconds(150)) != 0)
      return fail("cpack: " + out);
    for (const auto& entry : fs::directory_iterator(*work_ / "debs"))
      if (entry.path().extension() == ".deb") debs_.push_back(entry.path().string());
    if (debs_.size() != 2)
      return fail("cpack made " + std::to_string(debs_.size()) + " .debs, not 2: " + out);
    std::vector<std::string> install = {"dpkg", "-i"};
    install.insert(install.end(), debs_.begin(), debs_.end());
    installed_by_us_ = true;  // from here on TearDownTestSuite purges, whatever dpkg did
    if (run(install, &out, std::chrono::seconds(60)) != 0) return fail("dpkg -i: " + out);
    for (const auto& package : kPackages) {
      run({"dpkg", "-L", package}, &out);
      for (const auto& path : lines_of(out))
        if (fs::is_regular_file(path)) files_.push_back(path);
    }
  }

  static void TearDownTestSuite() {
    if (installed_by_us_) purge();
    delete work_;
    work_ = nullptr;
  }

 protected:
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(failure_.empty()) << failure_;
  }

  static void skip(const std::string& reason) { skip_reason_ = reason; }
  static void fail(const std::string& what) { failure_ = what; }
  static int purge() {
    std::vector<std::string> argv = {"dpkg", "--purge"};
    argv.insert(argv.end(), kPackages.begin(), kPackages.end());
    return run(argv, &purge_output_, std::chrono::seconds(60));
  }

  static inline TempDir* work_ = nullptr;
  static inline std::vector<std::string> debs_;
  static inline std::vector<std::string> files_;  // every file the two packages installed
  static inline bool installed_by_us_ = false;
  static inline std::string skip_reason_;
  static inline std::string failure_;
  static inline std::string purge_output_;
  TempDir dir_;
};

TEST_F(Package, FilesAreWhereThePackagesSayAndTheUnitNamesThem) {
  for (const auto& path : {"/usr/bin/homesipd", "/usr/bin/homesipctl", "/usr/bin/homesip-ua",
                           "/lib/systemd/system/homesipd@.service", "/etc/homesip/family.yaml",
                           "/etc/homesip/community.yaml", "/etc/homesip/province.yaml",
                           "/usr/share/doc/homesip/copyright", "/usr/share/doc/homesip/changelog.Debian.gz",
                           "/usr/share/doc/homesip-sdk-dev/copyright", "/usr/include/homesip/plugin.hpp",
                           "/usr/share/doc/homesip-sdk-dev/examples/virtual-lamp/virtual_lamp.cpp"})
    EXPECT_TRUE(fs::is_regular_file(path)) << path;
  for (const auto& plugin : kPlugins)
    EXPECT_TRUE(fs::is_regular_file("/usr/lib/homesip/plugins/" + plugin + ".so")) << plugin;
  EXPECT_GE(files_.size(), 40u);
  EXPECT_NE(query("homesip", "Conffiles").find("/etc/homesip/family.yaml"), std::string::npos)
      << query("homesip", "Conffiles");
  // dpkg-shlibdeps found the libraries; the SDK needs the server of the same version.
  EXPECT_NE(query("homesip", "Depends").find("libsofia-sip-ua0"), std::string::npos)
      << query("homesip", "Depends");
  EXPECT_NE(query("homesip", "Depends").find("adduser"), std::string::npos);
  EXPECT_EQ(query("homesip-sdk-dev", "Depends"), "homesip (= " + query("homesip", "Version") + ")");

  // postinst: a system user and group homesip own the state directory.
  std::string out;
  ASSERT_EQ(run({"getent", "passwd", "homesip"}, &out), 0) << "no user homesip";
  EXPECT_NE(out.find(":/var/lib/homesip:"), std::string::npos) << out;
  EXPECT_EQ(run({"stat", "-c", "%U:%G %a", "/var/lib/homesip"}, &out), 0);
  EXPECT_EQ(out, "homesip:homesip 750\n");

  const std::string unit = read_file("/lib/systemd/system/homesipd@.service");
  for (const auto& line : {"\nExecStart=/usr/bin/homesipd --config /etc/homesip/%i.yaml\n",
                           "\nUser=homesip\n", "\nStateDirectory=homesip/%i\n", "\nLimitNOFILE=65536\n",
                           "\nCapabilityBoundingSet=\n", "\nType=notify\n", "\nWatchdogSec=30\n"})
    EXPECT_NE(unit.find(line), std::string::npos) << line << " not in\n" << unit;
  if (run({"sh", "-c", "command -v systemd-analyze"}) != 0) GTEST_SKIP() << "no systemd-analyze here";
  const fs::path instance = dir_ / "homesipd@family.service";
  write_file(instance, unit);
  EXPECT_EQ(run({"systemd-analyze", "verify", instance.string()}, &out), 0) << out;
  EXPECT_EQ(out.find("Unknown"), std::string::npos) << out;
}

TEST_F(Package, InstalledServerAsTheServiceUserServesTheInstalledFamilyConfig) {
  // The certificate the example names (/etc/homesip/tls) from the installed homesipctl, into
  // this test's directory, which the user homesip may read, as it may the store it writes.
  const fs::path state = dir_ / "state";
  std::string out;
  ASSERT_EQ(run({"/usr/bin/homesipctl", "pki", "init", (dir_ / "pki").string()}, &out), 0) << out;
  ASSERT_EQ(run({"/usr/bin/homesipctl", "pki", "issue", (dir_ / "pki").string(), "H1@C1.D1", "--ip",
                 "127.0.0.1", "--out", (state / "tls").string()},
                &out),
            0)
      << out;
  ASSERT_EQ(run({"chown", "-R", "homesip:homesip", state.string()}, &out), 0) << out;
  ASSERT_EQ(run({"chmod", "0755", dir_.path().string()}, &out), 0) << out;
  const uint16_t udp = free_port();
  const uint16_t tls = free_port();
  Process server(
      {"setpriv", "--reuid=homesip", "--regid=homesip", "--clear-groups", "--", "/usr/bin/homesipd",
       "--config", "/etc/homesip/family.yaml", "--set",
       "server.listen=[udp:127.0.0.1:" + std::to_string(udp) + ", tls:127.0.0.1:" + std::to_string(tls) + "]",
       "--set", "server.tls_certificates=" + (state / "tls").string(), "--set",
       "plugins.tree.top=sips:127.0.0.1:" + std::to_string(free_port()), "--set",
       "plugins.location-sqlite.path=" + (state / "h1.sqlite").string(), "--set",
       "plugins.auth-digest.secret_file=" + (state / "h1.nonce-secret").string()},
      dir_ / "server.log");
  ASSERT_TRUE(wait_for_sip(udp, std::chrono::seconds(10))) << read_file(dir_ / "server.log");
  const std::string response = udp_exchange(udp,
                                            "REGISTER sip:C1.D1.H1 SIP/2.0\n"
                                            "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bKdeb;rport\n"
                                            "From: <sip:U1@C1.D1.H1>;tag=deb\n"
                                            "To: <sip:U1@C1.D1.H1>\n"
                                            "Call-ID: package@test\n"
                                            "CSeq: 1 REGISTER\n"
                                            "Contact: <sip:U1@127.0.0.1:$PORT$>\n"
                                            "Expires: 60\n"
                                            "Content-Length: 0\n\n");
  EXPECT_EQ(status_of(response), 401) << response << read_file(dir_ / "server.log");
  EXPECT_NE(response.find("WWW-Authenticate: Digest realm=\"C1.D1.H1\""), std::string::npos) << response;
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << read_file(dir_ / "server.log");
  EXPECT_TRUE(fs::is_regular_file(state / "h1.sqlite")) << "the store the user homesip writes";
}

TEST_F(Package, SdkBuildsItsExamplePluginWhichTheInstalledServerLoads) {
  const fs::path source = dir_ / "virtual-lamp";
  fs::copy("/usr/share/doc/homesip-sdk-dev/examples/virtual-lamp", source, fs::copy_options::recursive);
  std::string out;
  // No CMAKE_PREFIX_PATH: find_package(homesip-sdk) finds the package's files under /usr.
  ASSERT_EQ(run({"cmake", "-S", source.string(), "-B", (source / "build").string(), "-G", "Ninja"}, &out), 0)
      << out;
  ASSERT_EQ(run({"cmake", "--build", (source / "build").string()}, &out, std::chrono::seconds(120)), 0)
      << out;
  ASSERT_TRUE(fs::is_regular_file(source / "build/virtual-lamp.so")) << out;
  const fs::path config = dir_ / "lamp.yaml";
  write_file(config, "server:\n  listen: [udp:127.0.0.1:5060]\n  plugin_dirs: [" +
                         (source / "build").string() + "]\nplugins: []\n");
  ASSERT_EQ(
      run({"/usr/bin/homesipd", "--config", config.string(), "--describe-plugin", "virtual-lamp"}, &out), 0)
      << out;
  EXPECT_NE(out.find((source / "build/virtual-lamp.so").string()), std::string::npos) << out;
  // pkg-config names the directory homesipd searches when no plugin_dirs are configured.
  ASSERT_EQ(run({"pkg-config", "--variable=plugindir", "homesip-sdk"}, &out), 0) << out;
  EXPECT_EQ(fs::weakly_canonical(lines_of(out).at(0)), fs::path("/usr/lib/homesip/plugins")) << out;
}

TEST_F(Package, LintianFindsNoErrors) {
  std::vector<std::string> argv = {"lintian", "--no-tag-display-limit"};
  argv.insert(argv.end(), debs_.begin(), debs_.end());
  std::string out;
  run(argv, &out, std::chrono::seconds(150));
  std::vector<std::string> errors;
  for (const auto& line : lines_of(out))
    if (line.rfind("E: ", 0) == 0) errors.push_back(line);
  EXPECT_TRUE(errors.empty()) << out;
}

// Last in the suite (tests run in order in one process, add_test in tests/CMakeLists.txt).
TEST_F(Package, PurgeLeavesNothingBehind) {
  ASSERT_EQ(purge(), 0) << purge_output_;
  installed_by_us_ = false;
  for (const auto& package : kPackages) EXPECT_FALSE(installed(package)) << package;
  for (const auto& path : files_) EXPECT_FALSE(fs::exists(path)) << path;
  for (const auto& path : {"/usr/lib/homesip", "/var/lib/homesip", "/etc/homesip/family.yaml"})
    EXPECT_FALSE(fs::exists(path)) << path;
  EXPECT_NE(run({"getent", "passwd", "homesip"}), 0) << "user homesip left";
  EXPECT_NE(run({"getent", "group", "homesip"}), 0) << "group homesip left";
}

}  // namespace
