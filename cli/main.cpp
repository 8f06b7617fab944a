#include "cli/commands.h"

int main(int argc, char** argv) { return keel::cli::run_keel(argc, argv); }
