#include "services/storage/search_query.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spine::storage {
namespace {

std::string MustBuild(absl::string_view query) {
  absl::StatusOr<std::string> expression = BuildFtsMatchExpression(query);
  INFO("query: " << query << "\nstatus: " << expression.status().ToString());
  REQUIRE(expression.ok());
  return *expression;
}

std::string ErrorOf(absl::string_view query) {
  absl::StatusOr<std::string> expression = BuildFtsMatchExpression(query);
  INFO("query: " << query);
  REQUIRE_FALSE(expression.ok());
  CHECK(expression.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(expression.status().message());
}

std::string Utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// An in-memory FTS5 table with the tokenizer the store uses (unicode61, the FTS5 default), to
// check expressions against the real parser rather than against our idea of it.
class FtsTable {
 public:
  FtsTable() {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
    db_.reset(db);
    Exec("CREATE VIRTUAL TABLE docs USING fts5(text)");
    Exec("CREATE VIRTUAL TABLE terms USING fts5vocab(docs, 'instance')");
  }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error != nullptr ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }

  void Insert(int64_t rowid, absl::string_view text) {
    Statement stmt = Prepare("INSERT INTO docs(rowid, text) VALUES (?, ?)");
    sqlite3_bind_int64(stmt.get(), 1, rowid);
    sqlite3_bind_text(stmt.get(), 2, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(stmt.get()) == SQLITE_DONE);
  }

  // The rowids whose text matches `expression`, bound as a parameter the way the store binds it;
  // fails the test on any SQLite error (a syntax error in the expression above all).
  std::vector<int64_t> Match(absl::string_view expression) {
    Statement stmt = Prepare("SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rowid");
    sqlite3_bind_text(stmt.get(), 1, expression.data(), static_cast<int>(expression.size()),
                      SQLITE_TRANSIENT);
    std::vector<int64_t> rowids;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      rowids.push_back(sqlite3_column_int64(stmt.get(), 0));
    }
    INFO("expression: " << expression << "\nerror: " << sqlite3_errmsg(db_.get()));
    REQUIRE(rc == SQLITE_DONE);
    return rowids;
  }

  int64_t CountTokens() {
    Statement stmt = Prepare("SELECT count(*) FROM terms");
    REQUIRE(sqlite3_step(stmt.get()) == SQLITE_ROW);
    return sqlite3_column_int64(stmt.get(), 0);
  }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close(db); }
  };
  using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

  Statement Prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    INFO(sql << ": " << sqlite3_errmsg(db_.get()));
    REQUIRE(sqlite3_prepare_v2(db_.get(), sql, -1, &stmt, nullptr) == SQLITE_OK);
    return Statement(stmt);
  }

  std::unique_ptr<sqlite3, Close> db_;
};

using Rows = std::vector<int64_t>;

TEST_CASE("search words become quoted terms joined by AND") {
  CHECK(MustBuild("hello") == R"("hello")");
  CHECK(MustBuild("hello world") == R"("hello" AND "world")");
  CHECK(MustBuild("  hello \t\n world  ") == R"("hello" AND "world")");
  // Unicode whitespace separates words too: NBSP, EM SPACE, IDEOGRAPHIC SPACE, LINE SEPARATOR.
  CHECK(MustBuild("a\xC2\xA0"
                  "b\xE2\x80\x83"
                  "c\xE3\x80\x80"
                  "d\xE2\x80\xA8"
                  "e") == R"("a" AND "b" AND "c" AND "d" AND "e")");
  // Control characters separate words and never reach the expression.
  CHECK(MustBuild(absl::string_view("a\0b\x01"
                                    "c\x7F"
                                    "d",
                                    7)) == R"("a" AND "b" AND "c" AND "d")");
  CHECK(MustBuild("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC") ==
        "\"caf\xC3\xA9\" AND \"\xE6\x97\xA5\xE6\x9C\xAC\"");
}

TEST_CASE("search word ending in a star is a prefix term") {
  CHECK(MustBuild("note*") == R"("note"*)");
  CHECK(MustBuild("note** other") == R"("note"* AND "other")");
  CHECK(MustBuild("a*b") == R"("a*b")");
  CHECK(MustBuild("*note") == R"("*note")");
  CHECK(MustBuild("* note ***") == R"("note")");
}

TEST_CASE("search quotes typed by the user are doubled inside the term") {
  CHECK(MustBuild(R"(say "hi" note*)") == R"("say" AND """hi""" AND "note"*)");
  CHECK(MustBuild(R"("abc)") == R"("""abc")");
  CHECK(MustBuild(R"(a"b)") == R"("a""b")");
  CHECK(MustBuild(R"(x"*)") == R"("x"""*)");
}

TEST_CASE("search operators typed by the user become quoted terms") {
  CHECK(MustBuild("a OR b") == R"("a" AND "OR" AND "b")");
  CHECK(MustBuild("a NOT b") == R"("a" AND "NOT" AND "b")");
  CHECK(MustBuild("a AND") == R"("a" AND "AND")");
  CHECK(MustBuild("NEAR(a b)") == R"x("NEAR(a" AND "b)")x");
  CHECK(MustBuild("-a text:a ^a (a") == R"("-a" AND "text:a" AND "^a" AND "(a")");
}

TEST_CASE("search words without a letter or digit are dropped") {
  CHECK(MustBuild("hello - world :: \"") == R"("hello" AND "world")");
  // EM DASH, ELLIPSIS, an emoji, and a heart with its variation selector: all separators to FTS5.
  CHECK(MustBuild("idea \xE2\x80\x94 \xE2\x80\xA6 \xF0\x9F\x98\x80 \xE2\x9D\xA4\xEF\xB8\x8F") ==
        R"("idea")");
  CHECK(MustBuild("x -* \"*") == R"("x")");
}

TEST_CASE("search query with no searchable words is rejected") {
  for (const absl::string_view query : {"", "   ", "*", "** *", "\"", "- : ( ) ^", "\t\n"}) {
    CHECK(ErrorOf(query) == "query: no searchable words");
  }
}

TEST_CASE("search query limits are 1000 characters and 32 words") {
  const std::string thousand_chars = std::string(999, 'a') + "\xC3\xA9";
  CHECK(MustBuild(thousand_chars).size() == 1003);
  CHECK(ErrorOf(thousand_chars + "b") == "query: 1001 characters, at most 1000");

  std::string words;
  for (int i = 0; i < 32; ++i) absl::StrAppend(&words, "w", i, " ");
  CHECK(MustBuild(words).size() > 0);
  CHECK(ErrorOf(words + "one-more") == "query: 33 words, at most 32");
  // Dropped words do not count.
  CHECK(MustBuild(words + "- : *").size() > 0);
}

TEST_CASE("search query that is not valid utf-8 is rejected") {
  CHECK(ErrorOf("abc \xC3(") == "query: not valid UTF-8 (byte 4)");
  CHECK(ErrorOf("\xED\xA0\x80") == "query: not valid UTF-8 (byte 0)");
}

TEST_CASE("search expressions for hostile input run in FTS5 and match literally") {
  FtsTable fts;
  fts.Insert(1, "hello world");
  fts.Insert(2, "a OR b, said the note");
  fts.Insert(3, "NEAR(a b) is not an operator here");
  fts.Insert(4, R"(she said "quoted" text: ^caret -minus)");
  fts.Insert(5, "notebook notes");
  fts.Insert(6, "b alone");

  for (const absl::string_view hostile : {"\"",
                                          "*",
                                          "NEAR(a b)",
                                          "a OR b",
                                          "-a",
                                          "text:a",
                                          "\"abc",
                                          "^a",
                                          "(a",
                                          "a AND",
                                          "a NOT b",
                                          "NEAR",
                                          "OR",
                                          "AND",
                                          "NOT",
                                          "a + b",
                                          "{text}: a",
                                          "text : a",
                                          "docs:a",
                                          "rank:1",
                                          "a)",
                                          "\"\"\"",
                                          "a\"b\"c",
                                          "*a*",
                                          "col*",
                                          ":*",
                                          "a:*",
                                          "NEAR(a b, 1)",
                                          "hello\" OR \"x",
                                          "\xE2\x80\x94note",
                                          "x'; DROP TABLE docs; --"}) {
    INFO("query: " << hostile);
    absl::StatusOr<std::string> expression = BuildFtsMatchExpression(hostile);
    if (!expression.ok()) {
      CHECK(expression.status().message() == "query: no searchable words");
      continue;
    }
    fts.Match(*expression);  // fails the test on any SQLite error
  }

  // Operators are words: "a OR b" needs all three words, so it finds only the row containing "or".
  CHECK(fts.Match(MustBuild("a OR b")) == Rows{2});
  CHECK(fts.Match(MustBuild("b")) == Rows{2, 3, 6});
  CHECK(fts.Match(MustBuild("NEAR(a b)")) == Rows{3});
  CHECK(fts.Match(MustBuild("a NOT b")) == Rows{3});
  // A column filter is just the word "text" followed by "a".
  CHECK(fts.Match(MustBuild("text:caret")) == Rows{4});
  CHECK(fts.Match(MustBuild("-minus ^caret")) == Rows{4});
  CHECK(fts.Match(MustBuild("\"quoted\"")) == Rows{4});
  // Words are ANDed, prefix terms expand, and an unfinished prefix without a star does not.
  CHECK(fts.Match(MustBuild("hello world")) == Rows{1});
  CHECK(fts.Match(MustBuild("hello missing")).empty());
  CHECK(fts.Match(MustBuild("note*")) == Rows{2, 5});
  CHECK(fts.Match(MustBuild("note")) == Rows{2});
  CHECK(fts.Match(MustBuild("NOTE* hello")).empty());
  CHECK(fts.Match(MustBuild("x'; DROP TABLE docs; --")).empty());
  CHECK(fts.Match(MustBuild("hello")) == Rows{1});
}

TEST_CASE("search drops only characters the FTS5 tokenizer treats as separators") {
  // Every non-ASCII code point that BuildFtsMatchExpression considers unsearchable, in one row:
  // the tokenizer must find no token in it. (A wrongly dropped character would make thoughts
  // containing it unfindable.)
  std::string unsearchable;
  size_t dropped = 0;
  for (char32_t cp = 0x80; cp < 0x20000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string character = Utf8(cp);
    if (!BuildFtsMatchExpression(character).ok()) {
      unsearchable += character;
      ++dropped;
    }
  }
  CHECK(dropped > 3'000);
  FtsTable fts;
  fts.Insert(1, unsearchable);
  CHECK(fts.CountTokens() == 0);

  // And characters it keeps are tokens: letters of several scripts, CJK, a private-use
  // character, and an emoji newer than the tokenizer's Unicode tables.
  FtsTable kept;
  const std::vector<char32_t> letters = {0xE9,   0x3B1,  0x436,  0x5D0,  0x627,
                                         0x4E2D, 0xAC00, 0xE000, 0x1F914};
  for (size_t i = 0; i < letters.size(); ++i) {
    const std::string character = Utf8(letters[i]);
    REQUIRE(BuildFtsMatchExpression(character).ok());
    kept.Insert(static_cast<int64_t>(i) + 1, character);
    CHECK(kept.Match(MustBuild(character)) == Rows{static_cast<int64_t>(i) + 1});
  }
}

}  // namespace
}  // namespace spine::storage
