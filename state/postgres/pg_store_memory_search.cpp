// keel/state/postgres/pg_store_memory_search.cpp — PostgreSQL: memory_search,
// with PostgreSQL's own full-text search in place of SQLite's FTS5.
//
// Indexing: memory.search = to_tsvector('english', body), where body is, as
// in SQLite, the key and every string leaf of the value, passed through
// pg_memory_text::tokenizable (ASCII punctuation becomes blank, so tokens
// are runs of letters and digits, as with FTS5's unicode61 tokenizer). It is
// written by the statement that writes the row (pg_store_memory.cpp) and
// indexed by GIN.
//
// Matching — as SQLite's: the query is split on whitespace; a word with no
// letter or digit is dropped; every other word must match (AND), and a word
// that holds several tokens ("foo-bar", "a.b") matches them as a phrase
// (adjacent, in order): FTS5's "word" strings become
// phraseto_tsquery('english', word), ANDed. No user text is query syntax on
// either backend: quotes, *, ^, -, OR, AND, NOT, NEAR, col: are words or
// blanks, never operators, so no input is a syntax error. Neither backend
// offers prefix matching: "foo*" matches the token foo exactly.
//
// Where PostgreSQL differs from FTS5:
//   * Stemming ('english' Snowball): "deploying" finds "deployed", "users"
//     finds "user"; FTS5 (no stemmer) matches whole tokens only.
//   * Stop words: English stop words ("the", "a", "not", "or", ...) are not
//     indexed and are ignored in a query ("the cat" matches any row with
//     "cat"); a query of stop words only matches nothing. FTS5 indexes and
//     requires them.
//   * Diacritics: FTS5's unicode61 folds them ("café" finds "cafe"); the
//     'english' configuration does not.
//   * Non-ASCII punctuation: FTS5 splits on every Unicode punctuation and
//     symbol character; here the common ones are blanked by tokenizable()
//     (dashes, curly quotes, «», CJK punctuation, arrows, emoji...), and any
//     other is a separator or part of a word as the database's LC_CTYPE says.
//   * Ranking: ts_rank_cd(search, query, 1) — cover density (how often, and
//     how close together, the query's words occur), divided by 1 + log of
//     the number of distinct words in the row — highest first, ties by key;
//     FTS5 ranks by bm25 (term frequency with saturation, length-normalised).
//     Both rank rows that use the words more, and shorter rows, higher, and
//     SearchHit.score > 0 for every hit, but the numbers are on different
//     scales and hits of similar scores may come in another order.
//   * Positions: a tsvector counts word positions up to 16383 and clamps
//     later ones, so a phrase (a word with several tokens) is not found
//     beyond about the 16383rd word of a row; single words are. A value of
//     more than 256 KiB of text is indexed only up to there
//     (pg_store_memory.cpp). FTS5 has neither limit.
#include <algorithm>
#include <cctype>

#include "state/memory_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_memory_text.h"

namespace keel::state {
namespace json = boost::json;
using namespace pg_store_detail;

namespace {

// The words of `text` (split on whitespace) that hold a token, each made
// tokenizable, joined by '\n' (a byte no tokenizable word contains) for the
// query to split them again; "" when none holds a token.
std::string query_words(std::string_view text) {
  std::string out;
  for (const std::string_view word : memory_rules::query_words(text)) {
    if (!out.empty()) out += '\n';
    out += pg_memory_text::tokenizable(word);
  }
  return out;
}

}  // namespace

std::vector<SearchHit> PgStore::memory_search(const Principal& who, const SearchRequest& r) {
  memory_rules::check_search_query(r.query);
  const int limit =
      memory_rules::page_limit(r.limit, options_.memory_page_size, options_.memory_max_page_size);
  const std::vector<memory_rules::Slot> visible = memory_rules::search_slots(who, r);
  if (visible.empty()) return {};
  const std::string words = query_words(r.query);
  if (words.empty()) return {};
  // Words that are not UTF-8 can be in no row (every stored text is UTF-8).
  if (!pg_memory_text::valid_utf8(words)) return {};

  // The tsquery: each word's phrase query, ANDed; words that are only stop
  // words give an empty phrase and are left out; NULL (no rows) when none
  // is left. A tsquery's text form re-reads as the same tsquery.
  std::string sql =
      "WITH q AS (SELECT (SELECT string_agg('(' || p::text || ')', ' & ')"
      " FROM (SELECT phraseto_tsquery('english', w) AS p"
      " FROM unnest(string_to_array($1, E'\\n')) AS w) AS words"
      " WHERE numnode(p) > 0)::tsquery AS q)"
      " SELECT m.tier, m.namespace, m.key, m.value, m.version, ts_rank_cd(m.search, q.q, 1) AS rank"
      " FROM memory m, q WHERE m.search @@ q.q AND m.project = $2"
      " AND (m.expires_at IS NULL OR m.expires_at > $3) AND (";
  std::vector<pg::Param> params{words, who.project};
  const std::size_t now_index = params.size();
  params.emplace_back(std::nullopt);  // now, set on the connection below
  for (std::size_t i = 0; i < visible.size(); ++i) {
    const std::size_t p = params.size() + 1;
    if (i > 0) sql += " OR ";
    sql += "(m.tier = $" + std::to_string(p) + " AND m.namespace = $" + std::to_string(p + 1) +
           " AND m.scope = $" + std::to_string(p + 2) + ")";
    params.emplace_back(visible[i].tier);
    params.emplace_back(visible[i].ns);
    params.emplace_back(visible[i].scope);
  }
  sql += ") ORDER BY rank DESC, m.key LIMIT $" + std::to_string(params.size() + 1);
  params.emplace_back(limit);

  return read([&](pg::Connection& c) {
    params[now_index] = pg::Param(now(c));
    const pg::Result q = c.exec(sql, params);
    std::vector<SearchHit> hits;
    for (int i = 0; i < q.rows(); ++i) {
      SearchHit h;
      h.tier = q.text(i, 0) == "session" ? Tier::kSession : Tier::kCrossRun;
      h.ns = q.text(i, 1) == "shared" ? Namespace::kShared : Namespace::kOwn;
      h.key = q.text(i, 2);
      h.value = json::parse(q.text(i, 3));
      h.version = q.int64(i, 4);
      h.score = q.real(i, 5);
      hits.push_back(std::move(h));
    }
    return hits;
  });
}

}  // namespace keel::state
