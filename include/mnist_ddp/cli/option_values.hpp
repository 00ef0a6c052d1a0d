// option_values.hpp — the conversions and range checks of option values.
//
// Boost reads every option as a string; these turn the text into the value, so
// that each mistake gets one short message naming the option and the text
// ("--epochs: expected an integer, got 'abc'") instead of Boost's generic
// wording, and every rank, parsing the same argv, fails the same way. Each
// takes the option as the user wrote it ("--epochs") and throws UsageError.
// Also here: how --help prints a default value.
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace mnist_ddp {

// Throws UsageError("<option>: <what>").
[[noreturn]] void usage_error(const std::string& option, const std::string& what);

// 'text', as the messages quote what the user wrote.
std::string quoted(const std::string& text);

// An integer that fits Int (int or std::int64_t).
template <class Int>
Int parse_integer(const std::string& option, const std::string& text);

// An integer of at least 1, that fits an int.
int positive_int(const std::string& option, const std::string& text);

// An integer of at least 0 that fits Int (int or std::int64_t).
template <class Int>
Int non_negative(const std::string& option, const std::string& text);

// A non-negative integer up to 2^64 - 1 ("-1" is refused, not wrapped).
std::uint64_t parse_uint64(const std::string& option, const std::string& text);

// A finite number.
double parse_double(const std::string& option, const std::string& text);

// The text itself; non_empty_text refuses "".
std::string any_text(const std::string& option, const std::string& text);
std::string non_empty_text(const std::string& option, const std::string& text);

// Default values as --help prints them (%g for numbers).
std::string shown(int v);
std::string shown(std::int64_t v);
std::string shown(std::uint64_t v);
std::string shown(double v);

// "adam, rmsprop or sgd": the names (to_string) of `values`.
template <class E>
std::string choice_list(const std::vector<E>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += (i + 1 == values.size()) ? " or " : ", ";
    out += to_string(values[i]);
  }
  return out;
}

// The value of `values` whose name is `text`, in any case.
template <class E>
E parse_choice(const std::string& option, const std::string& text, const std::vector<E>& values) {
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (E v : values)
    if (lower == to_string(v)) return v;
  usage_error(option, "unknown value " + quoted(text) + " (choose " + choice_list(values) + ")");
}

}  // namespace mnist_ddp
