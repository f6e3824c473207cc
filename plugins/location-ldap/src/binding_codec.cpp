#include "binding_codec.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace homesip::location_ldap {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

void append_hex(std::string& out, unsigned char c, char prefix) {
  out += prefix;
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

std::string encode_text(std::string_view text) {
  if (text.empty()) return "-";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '%' || c == '-')
      append_hex(out, c, '%');
    else
      out += ch;
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> decode_text(std::string_view text) {
  if (text == "-") return std::string();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_digit(text[i + 1]);
    const int low = hex_digit(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

template <class Number>
bool parse_number(std::string_view text, Number& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string encode_binding(const Binding& b) {
  std::string out = "v1 ";
  out += encode_text(b.contact);
  out += ' ' + std::to_string(b.expires_at) + ' ' + std::to_string(b.q_millis) + ' ' + std::to_string(b.cseq);
  for (const std::string* text : {&b.call_id, &b.source, &b.instance, &b.user_agent}) {
    out += ' ';
    out += encode_text(*text);
  }
  return out;
}

std::optional<Binding> decode_binding(std::string_view value) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t space = value.find(' ', start);
    fields.push_back(
        value.substr(start, space == std::string_view::npos ? std::string_view::npos : space - start));
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  if (fields.size() != 9 || fields[0] != "v1") return std::nullopt;
  Binding b;
  if (!parse_number(fields[2], b.expires_at) || !parse_number(fields[3], b.q_millis) ||
      !parse_number(fields[4], b.cseq))
    return std::nullopt;
  std::string* texts[] = {&b.contact, &b.call_id, &b.source, &b.instance, &b.user_agent};
  const size_t positions[] = {1, 5, 6, 7, 8};
  for (size_t i = 0; i < 5; ++i) {
    auto text = decode_text(fields[positions[i]]);
    if (!text) return std::nullopt;
    *texts[i] = std::move(*text);
  }
  if (b.contact.empty()) return std::nullopt;
  return b;
}

std::string escape_dn_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    const bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
                         c == '=' || (i == 0 && (c == '#' || c == ' ')) ||
                         (i + 1 == value.size() && c == ' ');
    if (c < 0x20 || c >= 0x7F)
      append_hex(out, c, '\\');
    else if (special) {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string escape_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7F)
      append_hex(out, c, '\\');
    else
      out += ch;
  }
  return out;
}

}  // namespace homesip::location_ldap
