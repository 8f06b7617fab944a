// keel/cli/stdin_capture.h — what this process read from stdin before it
// knew it needed a store.
//
// The static `keel` has no PostgreSQL backend: when a command that already
// consumed its stdin (`keel hook`) turns out to need a PostgreSQL store, the
// process re-executes as `keel-pg` (cli/pg_reexec.cpp), which must see the
// same input. Such commands hand what they read to remember_stdin().
// Not synchronized: called from the main thread before any store is opened.
#pragma once

#include <string>
#include <string_view>

namespace keel::cli {

void remember_stdin(std::string_view bytes);
// nullptr when nothing was remembered (stdin is untouched).
const std::string* remembered_stdin();

}  // namespace keel::cli
