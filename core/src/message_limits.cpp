#include "message_limits.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>

namespace homesip::core {

bool is_token_char(char c) {
  // Not strchr alone: it finds the terminating NUL too.
  return c != '\0' &&
         (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-.!%*_+`'~", c) != nullptr);
}

namespace {

// ASCII only, as header names are: no locale lookup per byte.
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool is_name(std::string_view name, std::string_view full, char compact) {
  return iequals(name, full) || (name.size() == 1 && lower(name[0]) == compact);
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

// One header field: its name and everything after the colon, folded lines
// included, as raw bytes.
struct Field {
  std::string_view name;
  std::string_view value;
  std::string_view whole;  // from the name to the end of its last line, line end included
};

// Walks the header section of `message` field by field, in one pass.
class FieldReader {
 public:
  explicit FieldReader(std::string_view message) : text_(message) {
    while (at_ < text_.size() && (text_[at_] == '\r' || text_[at_] == '\n')) ++at_;  // leading CRLFs
    start_line_ = take_line();
  }
  std::string_view start_line() const { return start_line_; }
  // The next field, false at the empty line (or the end) that closes the section.
  bool next(Field& field) {
    const size_t begin = at_;
    std::string_view line = take_line();
    if (line.empty() || line == "\r") return false;
    while (at_ < text_.size() && is_space(text_[at_])) take_line();  // folded continuation lines
    field.whole = text_.substr(begin, at_ - begin);
    const size_t colon = field.whole.find(':');
    std::string_view name = field.whole.substr(0, colon == std::string_view::npos ? 0 : colon);
    while (!name.empty() && is_space(name.back())) name.remove_suffix(1);
    field.name = name;
    field.value = colon == std::string_view::npos ? std::string_view() : field.whole.substr(colon + 1);
    return true;
  }

 private:
  // The next line without its LF (a CR before it stays), advancing past it.
  std::string_view take_line() {
    const size_t begin = at_;
    const void* lf = at_ < text_.size() ? std::memchr(text_.data() + at_, '\n', text_.size() - at_) : nullptr;
    const size_t end = lf ? static_cast<size_t>(static_cast<const char*>(lf) - text_.data()) : text_.size();
    at_ = lf ? end + 1 : end;
    return text_.substr(begin, end - begin);
  }

  std::string_view text_;
  size_t at_ = 0;
  std::string_view start_line_;
};

// The bytes value_count has to look at; a table, since this runs on every
// header field of every request (find_first_of was several times slower).
struct SpecialBytes {
  bool table[256] = {};
  constexpr SpecialBytes() {
    for (const unsigned char c : {',', '"', '<', '>', '\\'}) table[c] = true;
  }
};
constexpr SpecialBytes kSpecial;

// Comma-separated values in a field's value: commas inside quoted strings and
// inside <> do not separate (a URI may hold commas; so may a display name).
size_t value_count(std::string_view value) {
  size_t count = 1;
  bool quoted = false;
  int angle = 0;
  const size_t n = value.size();
  for (size_t i = 0; i < n; ++i) {
    while (i < n && !kSpecial.table[static_cast<unsigned char>(value[i])]) ++i;
    if (i == n) break;
    const char c = value[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>') {
      if (angle > 0) --angle;
    } else if (c == ',' && angle == 0) {
      ++count;
    }
  }
  return count;
}

bool is_contact(std::string_view name) { return is_name(name, "Contact", 'm'); }

// The reason names the header; only its token characters, since the name is
// whatever bytes came before the colon (the fuzzer found CR LF there, which
// would reach the status line and the log).
LimitVerdict too_many_values(std::string_view name) {
  std::string reason = "Too Many Values In ";
  const size_t before = reason.size();
  for (const char c : name.substr(0, 64))
    if (is_token_char(c)) reason += c;
  if (reason.size() == before) reason += "A Header";
  return {400, std::move(reason), "max_header_values"};
}

// The Content-Length of a header section: -1 when invalid, 0 when absent (RFC 3261 18.3 requires it on
// streams; absent reads as no body).
long long content_length(std::string_view headers) {
  FieldReader reader(headers);
  Field field;
  long long length = 0;
  bool seen = false;
  while (reader.next(field)) {
    if (!is_name(field.name, "Content-Length", 'l')) continue;
    std::string_view digits = field.value;
    while (!digits.empty() && (is_space(digits.front()) || digits.front() == '\r' || digits.front() == '\n'))
      digits.remove_prefix(1);
    while (!digits.empty() && (is_space(digits.back()) || digits.back() == '\r' || digits.back() == '\n'))
      digits.remove_suffix(1);
    long long value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || value < 0)
      return -1;
    if (seen && value != length) return -1;  // two that disagree: no framing can be trusted
    seen = true;
    length = value;
  }
  return length;
}

}  // namespace

namespace {

// Whether the header section is within every count limit by a bound that
// needs no look at single fields: fields <= lines, Contact values <= lines +
// commas, values in one field <= commas + 1. True for nearly every real
// request, at a few instructions a byte instead of a walk field by field
// (this runs on every request).
bool obviously_within(std::string_view message, const MessageLimits& limits) {
  const char* const begin = message.data();
  const char* const end = begin + message.size();
  // Lines up to the blank one, jumping from LF to LF (memchr is vectorized).
  size_t lines = 0;
  const char* at = begin;
  const char* head_end = nullptr;
  while (at < end) {
    const auto* lf = static_cast<const char*>(std::memchr(at, '\n', static_cast<size_t>(end - at)));
    if (!lf) return false;
    ++lines;
    if (lf + 1 < end && (lf[1] == '\n' || (lf[1] == '\r' && lf + 2 < end && lf[2] == '\n'))) {
      head_end = lf;
      break;
    }
    if (lines > limits.max_headers) return false;
    at = lf + 1;
  }
  if (!head_end) return false;
  size_t commas = 0;
  for (at = begin; at < head_end; ++at) {
    at = static_cast<const char*>(std::memchr(at, ',', static_cast<size_t>(head_end - at)));
    if (!at) break;
    ++commas;
  }
  return lines <= limits.max_headers && commas + 1 <= limits.max_header_values &&
         lines + commas <= limits.max_contacts;
}

}  // namespace

LimitVerdict check_message(std::string_view message, const MessageLimits& limits) {
  if (message.size() > limits.max_message_bytes) return {513, "Message Too Large", "max_message_bytes"};
  if (obviously_within(message, limits)) return {};
  FieldReader reader(message);
  Field field;
  size_t headers = 0;
  size_t contacts = 0;
  while (reader.next(field)) {
    if (++headers > limits.max_headers) return {400, "Too Many Headers", "max_headers"};
    const size_t values = value_count(field.value);
    if (is_contact(field.name)) {
      contacts += values;
      if (contacts > limits.max_contacts) return {400, "Too Many Contacts", "max_contacts"};
    }
    if (values > limits.max_header_values) return too_many_values(field.name);
  }
  return {};
}

StreamFrame frame_stream_message(std::string_view buffered, size_t& searched) {
  StreamFrame frame;
  size_t keepalive = 0;
  while (keepalive < buffered.size() && (buffered[keepalive] == '\r' || buffered[keepalive] == '\n'))
    ++keepalive;
  if (keepalive > 0) {
    frame.state = StreamFrame::State::kKeepalive;
    frame.length = keepalive;
    searched = 0;
    return frame;
  }
  // Resume the search for the blank line where the last one stopped: a
  // message trickling in a byte at a time must not be scanned again each time.
  size_t from = searched > 3 ? searched - 3 : 0;
  size_t end = std::string_view::npos;
  while (from < buffered.size()) {
    const void* lf = std::memchr(buffered.data() + from, '\n', buffered.size() - from);
    if (!lf) break;
    const size_t at = static_cast<size_t>(static_cast<const char*>(lf) - buffered.data());
    if (at + 1 < buffered.size() && buffered[at + 1] == '\n') {
      end = at + 2;
      break;
    }
    if (at + 2 < buffered.size() && buffered[at + 1] == '\r' && buffered[at + 2] == '\n') {
      end = at + 3;
      break;
    }
    from = at + 1;
  }
  if (end == std::string_view::npos) {
    searched = buffered.size();
    return frame;  // incomplete
  }
  const long long body = content_length(buffered.substr(0, end));
  if (body < 0) {
    frame.state = StreamFrame::State::kInvalid;
    return frame;
  }
  frame.length = end + static_cast<size_t>(body);
  // A length that overflows is as good as too large: the caller caps it.
  if (frame.length < end) frame.length = SIZE_MAX;
  frame.state =
      frame.length <= buffered.size() ? StreamFrame::State::kComplete : StreamFrame::State::kIncomplete;
  return frame;
}

namespace {

// The skeleton with `start_line` in place of the message's own when given;
// with `cseq`, the CSeq field is left out and its value stored there instead.
std::string skeleton_of(std::string_view message, const MessageLimits& limits, std::string_view start_line,
                        std::string* cseq) {
  FieldReader reader(message);
  std::string out(start_line.empty() ? reader.start_line() : start_line);
  if (out.empty() || out.back() != '\r') out += '\r';
  out += '\n';
  Field field;
  bool vias_usable = true;
  size_t kept = 0;
  while (reader.next(field) && kept < limits.max_headers) {
    const bool via = is_name(field.name, "Via", 'v');
    const bool is_cseq = iequals(field.name, "CSeq");
    const bool copied = via || is_cseq || is_name(field.name, "From", 'f') ||
                        is_name(field.name, "To", 't') || is_name(field.name, "Call-ID", 'i');
    if (!copied) continue;
    const bool within = field.whole.size() <= 4096 && value_count(field.value) <= limits.max_header_values;
    if (via) {
      vias_usable = vias_usable && within;
      if (!vias_usable) continue;
    } else if (!within) {
      continue;
    }
    if (is_cseq && cseq) {
      std::string value(field.value);
      for (char& c : value)
        if (c == '\r' || c == '\n' || c == '\t') c = ' ';
      const auto first = value.find_first_not_of(' ');
      const auto last = value.find_last_not_of(' ');
      *cseq = first == std::string::npos ? "" : value.substr(first, last - first + 1);
      continue;
    }
    out.append(field.whole);
    if (out.back() != '\n') out += "\r\n";
    ++kept;
  }
  out += "\r\n";
  return out;
}

}  // namespace

std::string reply_skeleton(std::string_view message, const MessageLimits& limits) {
  return skeleton_of(message, limits, {}, nullptr);
}

std::optional<StandInRequest> stand_in_request(std::string_view message, const MessageLimits& limits) {
  std::string_view line = FieldReader(message).start_line();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t space = line.find(' ');
  if (space == 0 || space == std::string_view::npos) return std::nullopt;
  const std::string_view method = line.substr(0, space);
  if (!std::all_of(method.begin(), method.end(), is_token_char)) return std::nullopt;
  const std::string_view rest = line.substr(space + 1);
  const size_t version = rest.rfind(' ');
  if (version == std::string_view::npos || version == 0 || !iequals(rest.substr(version + 1), "SIP/2.0"))
    return std::nullopt;
  StandInRequest stand_in;
  stand_in.method = std::string(method);
  // Only a method token sofia refuses makes an otherwise readable request
  // line unreadable to it; anything else in the line is a real defect (RFC
  // 4475 lwsruri: whitespace inside the Request-URI).
  const std::string_view uri = rest.substr(0, version);
  const bool odd_method = method.find_first_of("+`") != std::string_view::npos;
  const bool clean_uri = uri.find_first_of(" \t") == std::string_view::npos;
  stand_in.status = odd_method && clean_uri ? 501 : 400;
  const std::string start = "UNREADABLE-METHOD sip:invalid SIP/2.0";
  stand_in.skeleton = skeleton_of(message, limits, start, &stand_in.cseq);
  return stand_in;
}

}  // namespace homesip::core
