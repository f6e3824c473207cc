// Why a TLS server would be refused, said before sofia-sip refuses it.
//
// sofia-sip does the verification that counts (TPTLS_VERIFY_SUBJECTS_OUT on
// the connection that carries the request), but a refused handshake only
// closes that connection: nua answers 408 after 32 s, with no reason. This
// probe makes one handshake of its own with the same rules and says what is
// wrong, at once. It never makes a server trusted: a probe that passes only
// lets the request go to sofia's own check.
#pragma once

#include <string>

namespace homesip::ua {

// True for a URI sent over TLS: sips:, or transport=tls.
bool is_tls_uri(const std::string& uri);

// "" when the server at `uri` (its host and port; 5061 when none) presents a
// certificate that chains to `ca_file` and names the host as sofia-sip checks
// it, or when there is nothing to say (no connection: nua reports that).
// Otherwise one sentence saying why the server is refused.
std::string tls_refusal(const std::string& uri, const std::string& ca_file);

}  // namespace homesip::ua
