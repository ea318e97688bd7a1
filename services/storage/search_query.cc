#include "services/storage/search_query.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/storage/thought_validation.h"

namespace spine::storage {
namespace {

struct CodePointRange {
  char32_t first;
  char32_t last;
};

// Non-ASCII code points that FTS5's unicode61 tokenizer (SQLite 3.40, whose tables follow Unicode
// 6.1) treats as separators, restricted to the blocks people actually type in a search box:
// Latin-1 punctuation and symbols, General Punctuation, currency, arrows to misc symbols and
// dingbats, CJK punctuation, variation selectors, small and fullwidth forms, the BOM, and the
// emoji and pictograph blocks (whose holes are emoji newer than Unicode 6.1, which that tokenizer
// indexes as letters). Sorted, disjoint. A code point missing here is merely kept as a word that
// may match nothing; one wrongly listed would make a searchable word disappear, which is why the
// unit test checks every entry against the linked SQLite.
constexpr std::array<CodePointRange, 65> kNonTokenRanges = {{
    {0x0080, 0x00A9},   {0x00AB, 0x00B1},   {0x00B4, 0x00B4},   {0x00B6, 0x00B8},
    {0x00BB, 0x00BB},   {0x00BF, 0x00BF},   {0x00D7, 0x00D7},   {0x00F7, 0x00F7},
    {0x2000, 0x2064},   {0x206A, 0x206F},   {0x20A0, 0x20B9},   {0x2190, 0x23F3},
    {0x2400, 0x2426},   {0x2440, 0x244A},   {0x249C, 0x24E9},   {0x2500, 0x26FF},
    {0x2701, 0x2775},   {0x2794, 0x2B4C},   {0x2B50, 0x2B59},   {0x3000, 0x3004},
    {0x3008, 0x3020},   {0x302A, 0x3030},   {0x3036, 0x3037},   {0x303D, 0x303F},
    {0xFE00, 0xFE19},   {0xFE30, 0xFE52},   {0xFE54, 0xFE66},   {0xFE68, 0xFE6B},
    {0xFEFF, 0xFEFF},   {0xFF01, 0xFF0F},   {0xFF1A, 0xFF20},   {0xFF3B, 0xFF40},
    {0xFF5B, 0xFF65},   {0xFFE0, 0xFFE6},   {0xFFE8, 0xFFEE},   {0x1F000, 0x1F02B},
    {0x1F030, 0x1F093}, {0x1F0A0, 0x1F0AE}, {0x1F0B1, 0x1F0BE}, {0x1F0C1, 0x1F0CF},
    {0x1F0D1, 0x1F0DF}, {0x1F110, 0x1F12E}, {0x1F130, 0x1F16B}, {0x1F170, 0x1F19A},
    {0x1F1E6, 0x1F202}, {0x1F210, 0x1F23A}, {0x1F240, 0x1F248}, {0x1F250, 0x1F251},
    {0x1F300, 0x1F320}, {0x1F330, 0x1F335}, {0x1F337, 0x1F37C}, {0x1F380, 0x1F393},
    {0x1F3A0, 0x1F3C4}, {0x1F3C6, 0x1F3CA}, {0x1F3E0, 0x1F3F0}, {0x1F400, 0x1F43E},
    {0x1F440, 0x1F440}, {0x1F442, 0x1F4F7}, {0x1F4F9, 0x1F4FC}, {0x1F500, 0x1F53D},
    {0x1F540, 0x1F543}, {0x1F550, 0x1F567}, {0x1F5FB, 0x1F640}, {0x1F645, 0x1F64F},
    {0x1F680, 0x1F6C5},
}};

// Decodes the code point at s[*i] and advances *i past it. `s` must be valid UTF-8.
char32_t DecodeAt(absl::string_view s, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<char32_t>(static_cast<uint8_t>(s[k])); };
  const char32_t b0 = byte(*i);
  if (b0 < 0x80) {
    *i += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    const char32_t cp = ((b0 & 0x1F) << 6) | (byte(*i + 1) & 0x3F);
    *i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    const char32_t cp = ((b0 & 0x0F) << 12) | ((byte(*i + 1) & 0x3F) << 6) | (byte(*i + 2) & 0x3F);
    *i += 3;
    return cp;
  }
  const char32_t cp = ((b0 & 0x07) << 18) | ((byte(*i + 1) & 0x3F) << 12) |
                      ((byte(*i + 2) & 0x3F) << 6) | (byte(*i + 3) & 0x3F);
  *i += 4;
  return cp;
}

// Unicode White_Space, plus every control character: both separate words.
bool IsWordSeparator(char32_t cp) {
  if (cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0)) return true;  // C0, space, DEL, C1, NBSP
  return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Whether the tokenizer would index this code point as (part of) a token.
bool IsSearchable(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
  }
  const auto* it = std::upper_bound(
      kNonTokenRanges.begin(), kNonTokenRanges.end(), cp,
      [](char32_t value, const CodePointRange& range) { return value < range.first; });
  return it == kNonTokenRanges.begin() || cp > std::prev(it)->last;
}

struct Term {
  absl::string_view text;  // without the trailing stars
  bool prefix = false;
};

// Makes a term from one whitespace-delimited word, or returns false when nothing in it is
// searchable (including a word made only of `*`).
bool MakeTerm(absl::string_view word, Term* term) {
  size_t end = word.size();
  while (end > 0 && word[end - 1] == '*') --end;
  const absl::string_view text = word.substr(0, end);
  bool searchable = false;
  for (size_t i = 0; i < text.size() && !searchable;) searchable = IsSearchable(DecodeAt(text, &i));
  if (!searchable) return false;
  *term = Term{text, end < word.size()};
  return true;
}

void AppendQuoted(const Term& term, std::string* out) {
  out->push_back('"');
  for (const char c : term.text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
  if (term.prefix) out->push_back('*');
}

}  // namespace

absl::StatusOr<std::string> BuildFtsMatchExpression(absl::string_view user_query) {
  const Utf8Check utf8 = CheckUtf8(user_query);
  if (!utf8.valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("query: not valid UTF-8 (byte ", utf8.bad_offset, ")"));
  }
  if (utf8.code_points > kMaxSearchQueryCodePoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query: ", utf8.code_points, " characters, at most ", kMaxSearchQueryCodePoints));
  }

  std::vector<Term> terms;
  size_t word_start = 0;
  const auto end_word = [&](size_t word_end) {
    Term term;
    if (word_end > word_start &&
        MakeTerm(user_query.substr(word_start, word_end - word_start), &term)) {
      terms.push_back(term);
    }
  };
  for (size_t i = 0; i < user_query.size();) {
    const size_t at = i;
    if (IsWordSeparator(DecodeAt(user_query, &i))) {
      end_word(at);
      word_start = i;
    }
  }
  end_word(user_query.size());

  if (terms.empty()) return absl::InvalidArgumentError("query: no searchable words");
  if (terms.size() > kMaxSearchQueryWords) {
    return absl::InvalidArgumentError(
        absl::StrCat("query: ", terms.size(), " words, at most ", kMaxSearchQueryWords));
  }
  std::string expression;
  expression.reserve(user_query.size() * 2 + terms.size() * 8);
  for (size_t i = 0; i < terms.size(); ++i) {
    if (i > 0) expression += " AND ";
    AppendQuoted(terms[i], &expression);
  }
  return expression;
}

}  // namespace spine::storage
