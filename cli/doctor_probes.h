// keel/cli/doctor_probes.h — what `keel doctor` learns by looking for and
// running programs: whether a command an agent runs resolves to an
// executable, the agent's `--version`, and whether keel's MCP server starts
// and lists keel's tools. Children run in a process group of their own and
// are killed with it when a probe ends (answered, failed or timed out).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace keel::cli::doctor {

namespace fs = std::filesystem;

// The environment variable `name`, nullopt when unset.
std::optional<std::string> env(const char* name);

bool is_executable_file(const fs::path& p);

// `name` on $PATH ("" when absent); a name with a '/' is taken as a path,
// relative to `base`.
std::string find_program(const std::string& name, const fs::path& base);

// Why `program` (as find_program resolves it) cannot run: "" when it can, else
// "<x> is not on PATH", "<path> is not an executable file" or "<path> does not exist".
std::string cannot_run(const std::string& program, const fs::path& base);

// `<program> --version`: its first output line, or nullopt (with why).
std::optional<std::string> program_version(const std::string& program, std::string& why);

// Starts an MCP server as an agent does (argv in cwd), initializes it and
// pages through tools/list until lease_acquire shows up. Empty on success,
// else why not; tool_count: the tools listed.
std::string probe_mcp_server(const std::vector<std::string>& argv, const fs::path& cwd, std::size_t& tool_count);

}  // namespace keel::cli::doctor
