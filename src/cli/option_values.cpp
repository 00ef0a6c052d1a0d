// option_values.cpp — text to option values, with the messages of each mistake.
//
// strtoll/strtod are used with every check they leave to the caller: leading
// blanks, trailing characters, ERANGE, and (for the unsigned seed) a minus sign
// that strtoull would silently wrap.
#include "mnist_ddp/cli/option_values.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

// strtoll/strtod skip leading blanks and accept an empty string as 0 when
// unchecked; a value must be the number and nothing else.
bool plain_token(const std::string& text) {
  return !text.empty() && !std::isspace(static_cast<unsigned char>(text.front()));
}

}  // namespace

void usage_error(const std::string& option, const std::string& what) { throw UsageError(option + ": " + what); }

std::string quoted(const std::string& text) { return "'" + text + "'"; }

template <class Int>
Int parse_integer(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (!plain_token(text) || *end != '\0') usage_error(option, "expected an integer, got " + quoted(text));
  if (errno == ERANGE || v < std::numeric_limits<Int>::min() || v > std::numeric_limits<Int>::max())
    usage_error(option, "value " + quoted(text) + " is out of range");
  return static_cast<Int>(v);
}

int positive_int(const std::string& option, const std::string& text) {
  const int v = parse_integer<int>(option, text);
  if (v < 1) usage_error(option, "must be a positive integer, got " + quoted(text));
  return v;
}

template <class Int>
Int non_negative(const std::string& option, const std::string& text) {
  const Int v = parse_integer<Int>(option, text);
  if (v < 0) usage_error(option, "must be a non-negative integer, got " + quoted(text));
  return v;
}

template int parse_integer<int>(const std::string&, const std::string&);
template std::int64_t parse_integer<std::int64_t>(const std::string&, const std::string&);
template int non_negative<int>(const std::string&, const std::string&);
template std::int64_t non_negative<std::int64_t>(const std::string&, const std::string&);

std::uint64_t parse_uint64(const std::string& option, const std::string& text) {
  // strtoull would silently wrap "-1" to 2^64 - 1.
  if (!plain_token(text) || !std::isdigit(static_cast<unsigned char>(text.front())))
    usage_error(option, "expected a non-negative integer, got " + quoted(text));
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (*end != '\0') usage_error(option, "expected a non-negative integer, got " + quoted(text));
  if (errno == ERANGE) usage_error(option, "value " + quoted(text) + " is out of range");
  return v;
}

double parse_double(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (!plain_token(text) || *end != '\0') usage_error(option, "expected a number, got " + quoted(text));
  if (!std::isfinite(v) || errno == ERANGE) usage_error(option, "expected a finite number, got " + quoted(text));
  return v;
}

std::string any_text(const std::string&, const std::string& text) { return text; }

std::string non_empty_text(const std::string& option, const std::string& text) {
  if (text.empty()) usage_error(option, "must not be empty");
  return text;
}

std::string shown(int v) { return std::to_string(v); }
std::string shown(std::int64_t v) { return std::to_string(v); }
std::string shown(std::uint64_t v) { return std::to_string(v); }
std::string shown(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace mnist_ddp
