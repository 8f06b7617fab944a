// keel store migrate | copy: the store's schema, and moving a project's whole
// state between backends (state/store_copy.h).
//
// A store is named by a PostgreSQL URL, or by "sqlite" (the embedded store in
// the workspace's state directory) or "sqlite:DIR" (the one in DIR). Printed
// URLs are redacted (no password).
#include <iostream>

#include "cli/commands.h"
#include "state/store_copy.h"

namespace keel::cli {

namespace {

struct StoreRef {
  state::StoreOptions options;
  std::string label;  // for messages: no password
};

// `spec` as store options on top of the workspace's (node, timeouts, ...).
StoreRef store_ref(const Workspace& ws, const std::string& spec) {
  StoreRef ref{ws.store_options(), ""};
  if (spec == "sqlite" || spec.rfind("sqlite:", 0) == 0) {
    ref.options.url.clear();
    if (spec.size() > 7) ref.options.dir = std::filesystem::absolute(spec.substr(7));
  } else {
    ref.options.url = spec;
  }
  ref.label = ref.options.url.empty() ? "SQLite " + (ref.options.dir / "keel.db").string()
                                      : redact_store_url(ref.options.url);
  return ref;
}

std::unique_ptr<state::Store> open(const StoreRef& ref) {
  return ref.options.url.empty() ? state::open_sqlite_store(ref.options)
                                 : state::open_postgres_store(ref.options);
}

state::StoreImaging& imaging(state::Store& store, const std::string& label) {
  auto* i = dynamic_cast<state::StoreImaging*>(&store);
  if (i == nullptr) {
    throw state::StoreError(state::ErrorCode::kInternal,
                            label + ": this backend cannot export or import state yet");
  }
  return *i;
}

int run_migrate(const Args&, Workspace& ws) {
  const StoreRef ref = store_ref(ws, ws.store_url().empty() ? "sqlite" : ws.store_url());
  std::unique_ptr<state::Store> store = open(ref);  // opening migrates
  const state::SchemaVersions v = imaging(*store, ref.label).schema_versions();
  if (v.found == v.now) {
    std::cout << ref.label << ": schema version " << v.now << ", up to date\n";
  } else {
    std::cout << ref.label << ": schema version " << v.found << " -> " << v.now << "\n";
  }
  return 0;
}

std::size_t rows_of(const state::StateImage& image, std::string_view table) {
  for (const auto& t : image.tables) {
    if (t.table == table) return t.rows.size();
  }
  return 0;
}

int run_copy(const Args& args, Workspace& ws) {
  const std::optional<std::string> to = args.get("to");
  if (!to || to->empty()) throw UsageError("--to names the target store (a URL, sqlite or sqlite:DIR)");
  const std::string from_spec =
      args.get("from").value_or(ws.store_url().empty() ? "sqlite" : ws.store_url());
  const StoreRef from = store_ref(ws, from_spec.empty() ? "sqlite" : from_spec);
  const StoreRef target = store_ref(ws, *to);
  if (from.label == target.label) throw UsageError("--from and --to name the same store");

  const state::Principal who = ws.human();
  // The target first: a wrong URL fails before the source is read, and on the
  // static keel a PostgreSQL end re-executes as keel-pg before any work.
  std::unique_ptr<state::Store> dst = open(target);
  std::unique_ptr<state::Store> src = open(from);
  const state::StateImage image = imaging(*src, from.label).export_image(who);
  imaging(*dst, target.label).import_image(who, image);

  const state::VerifyReport verified = dst->journal_verify(who);
  const state::ReplayReport replayed = dst->journal_replay(who);
  std::cout << "copied project " << who.project << " from " << from.label << " to "
            << target.label << ": " << image.records.size() << " journal records, "
            << rows_of(image, "leases") << " leases, " << rows_of(image, "memory")
            << " memory rows, " << rows_of(image, "escalations") << " escalations, "
            << rows_of(image, "agents") << " agents\n";
  std::cout << "target journal verify: "
            << (verified.ok ? "intact (" + std::to_string(verified.records) + " records)"
                            : "BROKEN at seq " + std::to_string(verified.first_bad->seq) + " (" +
                                  verified.first_bad->kind + "): " + verified.first_bad->detail)
            << "\ntarget journal replay: "
            << (replayed.equal ? "equals the lease table" : "DIFFERS from the lease table")
            << "\n";
  for (const auto& d : replayed.differences) std::cout << "  " << d << "\n";
  return verified.ok && replayed.equal ? 0 : 1;
}

}  // namespace

std::vector<Command> store_commands() {
  return {
      Command{{"store", "migrate"}, "keel store migrate",
              "bring the configured store's schema up to this keel's; print the versions",
              "Every keel migrates the store it opens; this does only that, and says what it "
              "found.",
              {}, run_migrate},
      Command{{"store", "copy"}, "keel store copy --to STORE [--from STORE]",
              "copy the project's whole state into an empty store (SQLite <-> PostgreSQL)",
              "STORE is a PostgreSQL URL, sqlite (the state directory's keel.db) or sqlite:DIR.\n"
              "--from defaults to the configured store. Copies every journal record verbatim,\n"
              "the chain head and the fencing-token counter, leases, memory, escalations,\n"
              "agents, tool calls' idempotency records and fanout's cache and breakers; then\n"
              "checks the target with journal verify and replay (exit 1 if either\n"
              "fails). The target must hold nothing of the project. Stop every keel using the\n"
              "source first: writes made during the copy are not carried over.",
              {{"to", "STORE", "the target store"},
               {"from", "STORE", "the source store (default: the configured one)"}},
              run_copy},
  };
}

}  // namespace keel::cli
