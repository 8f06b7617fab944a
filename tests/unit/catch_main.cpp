// The one main() of every keel_*_tests executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
