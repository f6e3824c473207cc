#include "slapd_fixture.hpp"

#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <thread>

namespace homesip::location_ldap::testing {
namespace {

using homesip::test::run;
using homesip::test::write_file;

std::string schema_ldif() {
  return homesip::test::source_dir() + "/plugins/location-ldap/schema/homesip.ldif";
}
std::string example_ldif() {
  return homesip::test::source_dir() + "/plugins/location-ldap/schema/example-directory.ldif";
}

std::string percent_path(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '/' ? std::string("%2F") : std::string(1, c);
  return out;
}

std::string run_checked(const std::vector<std::string>& argv) {
  std::string output;
  if (run(argv, &output, std::chrono::seconds(30)) != 0) {
    std::string command;
    for (const std::string& arg : argv) command += arg + " ";
    throw std::runtime_error("failed: " + command + "\n" + output);
  }
  return output;
}

}  // namespace

TestCa make_test_ca(const std::filesystem::path& dir, const std::string& name) {
  TestCa ca{dir / (name + "-ca.pem"), dir / (name + "-ca.key")};
  run_checked({"openssl",
               "req",
               "-x509",
               "-newkey",
               "ec",
               "-pkeyopt",
               "ec_paramgen_curve:prime256v1",
               "-nodes",
               "-keyout",
               ca.key.string(),
               "-out",
               ca.cert.string(),
               "-days",
               "2",
               "-subj",
               "/O=homesip tests/CN=" + name + " test CA",
               "-addext",
               "basicConstraints=critical,CA:TRUE",
               "-addext",
               "keyUsage=critical,keyCertSign,cRLSign"});
  return ca;
}

TestCert make_server_cert(const std::filesystem::path& dir, const std::string& name, const TestCa& ca) {
  TestCert cert{dir / (name + ".pem"), dir / (name + ".key")};
  const auto csr = dir / (name + ".csr");
  const auto extensions = dir / (name + ".ext");
  write_file(extensions,
             "basicConstraints = critical,CA:FALSE\n"
             "keyUsage = critical,digitalSignature,keyEncipherment\n"
             "extendedKeyUsage = serverAuth\n"
             "subjectAltName = IP:127.0.0.1,DNS:localhost\n");
  run_checked({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-keyout", cert.key.string(), "-out", csr.string(), "-subj",
               "/O=homesip tests/CN=127.0.0.1"});
  run_checked({"openssl", "x509", "-req", "-in", csr.string(), "-CA", ca.cert.string(), "-CAkey",
               ca.key.string(), "-set_serial", std::to_string(1000 + getpid()), "-days", "2", "-extfile",
               extensions.string(), "-out", cert.cert.string()});
  // slapd runs as the current user (root in the tests): owner-only is readable for it.
  std::filesystem::permissions(cert.key,
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  return cert;
}

Slapd::Slapd(SlapdOptions options) : options_(options) {
  if (options_.port == 0) options_.port = homesip::test::free_port();
  const auto conf = dir_ / "slapd.d";
  const auto data = dir_ / "data";
  std::filesystem::create_directories(conf);
  std::filesystem::create_directories(data);
  const bool mirror = options_.server_id > 0;
  TestCert server_cert;
  if (options_.tls) {
    while (options_.tls_port == 0 || options_.tls_port == options_.port)
      options_.tls_port = homesip::test::free_port();
    ca_ = make_test_ca(dir_.path(), "slapd");
    server_cert = make_server_cert(dir_.path(), "slapd-server", ca_);
  }
  std::ostringstream ldif;
  ldif << "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n"
       << "olcPidFile: " << (dir_ / "slapd.pid").string() << "\n"
       << "olcAuthzRegexp: {0}\"gidNumber=" << getgid() << "\\+uidNumber=" << getuid()
       << ",cn=peercred,cn=external,cn=auth\" \"" << kAdminDn << "\"\n";
  if (mirror) ldif << "olcServerID: " << options_.server_id << "\n";
  if (options_.tls)
    ldif << "olcTLSCACertificateFile: " << ca_.cert.string() << "\n"
         << "olcTLSCertificateFile: " << server_cert.cert.string() << "\n"
         << "olcTLSCertificateKeyFile: " << server_cert.key.string() << "\n"
         << "olcTLSVerifyClient: never\n";
  if (options_.require_security) ldif << "olcSecurity: ssf=1\n";
  ldif << "\n"
       << "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
       << "olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n"
       << (mirror ? "olcModuleLoad: syncprov\n" : "") << "\n"
       << "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n"
       << "include: file:///etc/ldap/schema/core.ldif\n\n"
       << "include: file://" << schema_ldif() << "\n\n"
       << "dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
       << "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n"
       << "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\nolcDatabase: {0}config\n"
       << "olcRootDN: " << kAdminDn << "\n\n"
       << "dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcMdbConfig\n"
       << "olcDatabase: {1}mdb\nolcSuffix: " << kBaseDn << "\nolcRootDN: " << kAdminDn << "\n"
       << "olcRootPW: " << kAdminPassword << "\nolcDbDirectory: " << data.string() << "\n"
       << "olcDbMaxSize: 268435456\n"
       << "olcDbIndex: objectClass eq\nolcDbIndex: homesipDomain eq\n";
  if (mirror) {
    ldif << "olcDbIndex: entryCSN eq\nolcDbIndex: entryUUID eq\n"
         << "olcSyncrepl: rid=00" << options_.server_id
         << " provider=ldap://127.0.0.1:" << options_.mirror_peer_port << "/ bindmethod=simple binddn=\""
         << kAdminDn << "\" credentials=" << kAdminPassword << " searchbase=\"" << kBaseDn
         << "\" type=refreshAndPersist retry=\"1 +\" timeout=3\n"
         << "olcMirrorMode: TRUE\n\n"
         << "dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config\nobjectClass: olcOverlayConfig\n"
         << "objectClass: olcSyncProvConfig\nolcOverlay: {0}syncprov\nolcSpCheckpoint: 1 1\n";
  }
  write_file(dir_ / "config.ldif", ldif.str());
  std::string output;
  if (run({"/usr/sbin/slapadd", "-n0", "-F", conf.string(), "-l", (dir_ / "config.ldif").string()},
          &output) != 0)
    throw std::runtime_error("slapadd -n0 failed: " + output);
  if (options_.load_base &&
      run({"/usr/sbin/slapadd", "-n1", "-F", conf.string(), "-l", example_ldif()}, &output) != 0)
    throw std::runtime_error("slapadd -n1 failed: " + output);
  start();
}

Slapd::~Slapd() {
  if (process_) {
    resume();
    process_->stop(std::chrono::seconds(5));
  }
}

std::string Slapd::uri() const { return "ldap://127.0.0.1:" + std::to_string(options_.port); }

std::string Slapd::ldaps_uri() const { return "ldaps://127.0.0.1:" + std::to_string(options_.tls_port); }

std::string Slapd::admin_uri() const { return options_.require_security ? ldapi_uri() : uri(); }

std::string Slapd::ldapi_uri() const { return "ldapi://" + percent_path((dir_ / "ldapi").string()); }

void Slapd::start() {
  process_ = std::make_unique<homesip::test::Process>(
      std::vector<std::string>{"/usr/sbin/slapd", "-d", "0", "-F", (dir_ / "slapd.d").string(), "-h",
                               uri() + "/ " + ldapi_uri() + (options_.tls ? " " + ldaps_uri() + "/" : "")},
      dir_ / "slapd.log");
  if (!wait_ready(std::chrono::seconds(10)))
    throw std::runtime_error("slapd did not start: " + homesip::test::read_file(dir_ / "slapd.log"));
}

void Slapd::stop() {
  if (!process_) return;
  process_->stop(std::chrono::seconds(10));
  process_.reset();
}

void Slapd::kill9() {
  if (!process_) return;
  process_->kill9();
  process_.reset();
}

void Slapd::pause() {
  if (process_) process_->signal(SIGSTOP);
}

void Slapd::resume() {
  if (process_) process_->signal(SIGCONT);
}

bool Slapd::wait_ready(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string output;
    if (run({"ldapsearch", "-x", "-H", admin_uri(), "-b", "", "-s", "base", "-o", "nettimeout=1"}, &output,
            std::chrono::seconds(3)) == 0)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

LdapOptions Slapd::store_options(const std::string& bindings_dn) const {
  LdapOptions options;
  options.uri = uri();
  options.base_dn = kBaseDn;
  options.bindings_dn = bindings_dn;
  options.bind_dn = kAdminDn;
  options.bind_password = kAdminPassword;
  options.timeout = std::chrono::milliseconds(1000);
  options.reconnect_min = std::chrono::milliseconds(100);
  options.reconnect_max = std::chrono::milliseconds(400);
  complete(options);
  return options;
}

std::string Slapd::search(const std::string& filter, const std::vector<std::string>& attributes,
                          const std::string& base) const {
  std::vector<std::string> argv{"ldapsearch",   "-x",        "-LLL", "-o",     "ldif-wrap=no",
                                "-H",           admin_uri(), "-D",   kAdminDn, "-w",
                                kAdminPassword, "-b",        base,   filter};
  argv.insert(argv.end(), attributes.begin(), attributes.end());
  std::string output;
  run(argv, &output, std::chrono::seconds(10));
  return output;
}

int Slapd::modify(const std::string& ldif, bool add) const {
  const auto file = dir_ / "change.ldif";
  write_file(file, ldif);
  std::vector<std::string> argv{"ldapmodify", "-x", "-H",           admin_uri(), "-D",
                                kAdminDn,     "-w", kAdminPassword, "-f",        file.string()};
  if (add) argv.push_back("-a");
  return run(argv);
}

}  // namespace homesip::location_ldap::testing
