// keel/state/postgres/pg_store_memory_text.h — text helpers of the PostgreSQL
// memory store (pg_store_memory*.cpp): UTF-8 checks, the prefix bound of
// memory_list, and the text that is indexed and searched.
//
// Why these exist: PostgreSQL's text must be valid UTF-8 without NUL (SQLite
// stores any bytes), and its default text-search parser recognises file
// paths, URLs, e-mail addresses and hosts as single tokens ("notes/auth-flow"
// is one token), where SQLite's FTS5 (unicode61) splits on every
// punctuation character. Both the indexed body and the search words go
// through tokenizable() so that tokens are the runs of letters and digits,
// as in FTS5.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace keel::state::pg_memory_text {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates).
bool valid_utf8(std::string_view s);

// The smallest valid UTF-8 string greater (in byte order, which for UTF-8 is
// code point order) than every string that starts with `prefix`, or nullopt
// when there is none. `prefix` must be valid UTF-8. Unlike
// store_common::prefix_successor (which may yield e.g. a lone 0x80 byte),
// the result is always valid UTF-8, so it can be sent as PostgreSQL text.
std::optional<std::string> utf8_prefix_successor(std::string_view prefix);

// `text` with every ASCII character that is not a letter or a digit
// (punctuation, control characters, NUL) and the common non-ASCII
// punctuation, spaces and symbols (dashes, curly quotes, «», CJK
// punctuation, arrows, emoji...) replaced by a space, so that PostgreSQL's
// parser splits words where FTS5 does whatever the database's LC_CTYPE (in
// the C locale it takes every non-ASCII character for a letter). Other
// characters, and bytes that are not UTF-8, are kept.
std::string tokenizable(std::string_view text);

// A tsvector holds at most 1 MiB; a body of this many bytes stays well below
// it whatever its words. Only values far above the default 64 KiB limit
// (StoreOptions::memory_max_value_bytes) are cut: the rest of such a value
// is not searchable (SQLite indexes it all).
inline constexpr std::size_t kMaxSearchBodyBytes = 256 * 1024;

// What memory.search indexes for a row whose search text
// (memory_rules::search_text) is `text`: cut to kMaxSearchBodyBytes on a
// character boundary, then tokenizable(). Used by memory_put and by copy, so
// that copied rows are found as written ones are.
std::string search_body(std::string text);

}  // namespace keel::state::pg_memory_text
