# cmake -DCXX=<compiler> -DLAYERS=<build>/layers -DSRC=<source> -P check-layers.cmake
#
# The include graph test (ctest "layering"): compiles one-line files with
# exactly the include path a library gets (build/layers/<layer>) and checks
# that every arrow of the layer graph compiles and every include against an
# arrow fails with "No such file". A header that moves layers, or a layer
# directory that gains a link it should not have, turns this red.
set(work ${LAYERS}/../layering-check)
file(MAKE_DIRECTORY ${work})
set(failures 0)

# Each case: <layer> <header> <ALLOW|DENY>
set(cases
  "state;crypto/hex.h;ALLOW"
  "mcp;crypto/hmac.h;ALLOW"
  "hooks;state/clock.h;ALLOW"
  "tools;state/clock.h;ALLOW"
  "cli;hooks/dialect.h;ALLOW"
  "crypto;state/clock.h;DENY"
  "state;mcp/jsonrpc.h;DENY"
  "state;hooks/dialect.h;DENY"
  "state;tools/tools.h;DENY"
  "mcp;state/clock.h;DENY"
  "mcp;tools/tools.h;DENY"
  "hooks;mcp/jsonrpc.h;DENY"
  "hooks;tools/tools.h;DENY"
  "hooks;cli/config.h;DENY"
  "tools;hooks/dialect.h;DENY"
  "tools;cli/config.h;DENY"
  "net;crypto/hmac.h;ALLOW"
  "net;state/clock.h;DENY"
  "notify;net/http_client.h;ALLOW"
  "notify;mcp/jsonrpc.h;DENY"
  "console;mcp/http_server.h;ALLOW"
  "console;net/http_client.h;DENY"
  "observe;net/http_client.h;ALLOW"
  "observe;tools/tools.h;DENY"
  "mcp;observe/telemetry_config.h;DENY"
  "state;notify/notify_config.h;DENY")

set(i 0)
list(LENGTH cases n)
while(i LESS n)
  list(GET cases ${i} layer)
  math(EXPR j "${i} + 1")
  list(GET cases ${j} header)
  math(EXPR k "${i} + 2")
  list(GET cases ${k} expect)
  math(EXPR i "${i} + 3")
  if(NOT EXISTS ${SRC}/${header})
    message(SEND_ERROR "layering: ${header} does not exist; update cmake/check-layers.cmake")
    math(EXPR failures "${failures} + 1")
    continue()
  endif()
  string(MAKE_C_IDENTIFIER "${layer}_${header}" name)
  set(file ${work}/${name}.cpp)
  file(WRITE ${file} "#include \"${header}\"\n")
  execute_process(
    COMMAND ${CXX} -std=c++20 -E -I ${LAYERS}/${layer} ${file}
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(expect STREQUAL "ALLOW" AND NOT rc EQUAL 0)
    message(SEND_ERROR "layering: ${layer}/ may include ${header}, but it does not compile:\n${err}")
    math(EXPR failures "${failures} + 1")
  elseif(expect STREQUAL "DENY" AND (rc EQUAL 0 OR NOT err MATCHES "No such file"))
    message(SEND_ERROR "layering: ${layer}/ must not see ${header}, yet it does (rc ${rc})")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "layering: ${layer} -> ${header}: ${expect} as expected")
  endif()
endwhile()
if(failures GREATER 0)
  message(FATAL_ERROR "layering: ${failures} case(s) broke the include graph")
endif()
