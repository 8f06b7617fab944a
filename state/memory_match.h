// keel/state/memory_match.h — the template language of memory_take,
// memory_wait and memory_list's `match`, and memory_txn's value comparison.
// Pure functions; both store backends and tools/ use them.
//
// A template is a JSON object. A value matches it when, for every field F:
//   * template[F] is {"$exists": true}: the value is an object with field F;
//   * template[F] is {"$exists": false}: the value has no field F (or is not
//     an object);
//   * template[F] is any other object: value[F] is an object that matches
//     template[F] as a template (so templates nest);
//   * otherwise: value[F] exists and equals template[F] (JSON equality;
//     numbers compare by value, so 1 equals 1.0).
// The empty template {} matches every value. Arrays compare whole.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace keel::state {

// Throws StoreError(kInvalidArgument) naming the problem when `tmpl` is not
// an object, or uses "$exists" with a non-boolean or beside other fields,
// or nests deeper than 16 levels.
void check_match_template(const boost::json::value& tmpl);

// Whether `value` matches `tmpl` (which check_match_template accepted).
bool matches_template(const boost::json::value& value, const boost::json::value& tmpl);

// JSON equality where numbers (anywhere, at any depth) are equal when they
// differ by at most `tolerance` (≥ 0); objects compare field by field
// regardless of order, arrays element by element.
bool equal_within(const boost::json::value& a, const boost::json::value& b, double tolerance);

}  // namespace keel::state
