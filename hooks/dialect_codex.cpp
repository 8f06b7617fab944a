// dialect_codex.cpp — see dialect_codex.h.
#include "hooks/dialect_codex.h"

#include "hooks/dialect_util.h"

namespace keel::hooks {

HookEvent CodexDialect::parse(std::string_view in) const {
  return parse_object(dutil::parse_object(in, name()), name());
}

}  // namespace keel::hooks
