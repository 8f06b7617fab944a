// keel/mcp/schema.h — a JSON Schema (2020-12) validator for the subset tools use.
//
// Supported keywords:
//   type (a name or an array of names; "integer" accepts 3 and 3.0),
//   enum, const,
//   minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
//   minLength, maxLength (in Unicode code points),
//   properties, required, additionalProperties (bool or schema),
//   minProperties, maxProperties,
//   items, prefixItems, minItems, maxItems, uniqueItems,
//   allOf, anyOf, oneOf, not, if/then/else,
//   $ref to a local JSON pointer ("#", "#/$defs/x"), boolean schemas.
// Everything else ($schema, $defs, title, description, default, format,
// pattern, x-* ...) is accepted and ignored (annotations, or not enforced).
// additionalProperties is not enforced when patternProperties is present,
// since patterns are not evaluated.
//
// Errors name the JSON Pointer of the offending value and say what was
// expected, e.g. "/ttl_ms: must be an integer ≥ 1", "/name: is required".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace keel::mcp {

struct SchemaError {
  std::string path;     // JSON Pointer into the instance; "" is the root
  std::string message;  // "must be a string"
  // "/path: message" (the root shows as "/").
  std::string to_string() const;
};

struct SchemaValidateOptions {
  std::size_t max_errors = 20;  // stop collecting after this many
  std::size_t max_depth = 128;  // schema recursion ($ref chains) guard
};

// Validates `instance` against `schema`. Empty result: valid. Never throws
// on any schema or instance (a malformed keyword is ignored).
std::vector<SchemaError> validate_schema(const boost::json::value& schema,
                                         const boost::json::value& instance,
                                         const SchemaValidateOptions& options = {});

// Rewrites, recursively, every double that holds an integral value of
// magnitude ≤ 2^53 as an int64 (so 3.0 reads as 3 to a handler).
void normalize_integers(boost::json::value& v);

// All errors as one line each, joined with `sep`.
std::string join_errors(const std::vector<SchemaError>& errors, const std::string& sep);

}  // namespace keel::mcp
