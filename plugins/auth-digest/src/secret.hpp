// The nonce HMAC secret: read from `secret_file` at start, created with 32
// random bytes and mode 0600 when missing. A file that group or others may
// read or write is refused: whoever reads it can mint nonces.
#pragma once

#include <string>

namespace homesip::auth_digest {

// The secret's bytes; throws homesip::ConfigError("secret_file", why).
std::string load_or_create_secret(const std::string& path);

// What load_or_create_secret would refuse, without creating anything: an
// existing file is read and judged; a missing one needs a directory this
// process may create it in. Throws homesip::ConfigError("secret_file", why).
void check_secret_file(const std::string& path);

}  // namespace homesip::auth_digest
