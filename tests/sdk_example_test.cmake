# Installs the SDK into a scratch prefix, builds sdk/examples/virtual-lamp and its
# unit tests out of tree against it, runs them, then checks that homesipd accepts
# the built plugin and that it answers SIP MESSAGE. Then the appliance example
# sdk/examples/fan, built out of tree the same way, is switched through the
# in-tree appliance-hub (PLUGIN_DIR) with homesip-ua control.
file(REMOVE_RECURSE ${BUILD_DIR})
set(prefix ${BUILD_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BUILD_DIR}/sdk-only -G ${GENERATOR}
                        -DHOMESIP_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=${prefix}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "configuring homesip for the SDK install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR}/sdk-only --component sdk RESULT_VARIABLE rc
                OUTPUT_QUIET)
if(NOT EXISTS ${prefix}/include/homesip/plugin.hpp)
  message(FATAL_ERROR "SDK headers were not installed")
endif()
if(NOT EXISTS ${prefix}/include/homesip/testkit/fake_context.hpp)
  message(FATAL_ERROR "the SDK test kit was not installed")
endif()
# The example and its unit tests (on the installed test kit), with the project's warnings as errors.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/sdk/examples/virtual-lamp -B ${BUILD_DIR}/lamp
                        -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DVIRTUAL_LAMP_TESTS=ON
                        "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the example against the installed SDK failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR}/lamp RESULT_VARIABLE rc)
if(rc OR NOT EXISTS ${BUILD_DIR}/lamp/virtual-lamp.so)
  message(FATAL_ERROR "building the example plugin failed")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BUILD_DIR}/lamp --output-on-failure --timeout 60
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
# Every unit test ran and passed (a discovery that found none would also say "100%").
string(REGEX MATCH "100% tests passed, 0 tests failed out of ([0-9]+)" passed "${out}")
if(rc OR NOT passed OR CMAKE_MATCH_1 LESS 9)
  message(FATAL_ERROR "the example's unit tests failed or did not all run:\n${out}")
endif()
# A plain server (no tree plugin): the lamp names its domain itself.
file(WRITE ${BUILD_DIR}/lamp.yaml "server:\n  listen: [udp:127.0.0.1:5999]\n  plugin_dirs: [${BUILD_DIR}/lamp]\nplugins:\n  - plugin: virtual-lamp\n    device: kitchen\n    domain: C1.D1.H1\n")
execute_process(COMMAND ${HOMESIPD} --config ${BUILD_DIR}/lamp.yaml --check-config RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "homesipd refused the example plugin: ${out}")
endif()
# And it works: ask the lamp's state (off at start), switch it on and off with SIP
# MESSAGE, asking its state after each, then send nonsense. Each command's answer
# is checked: the status line, the body the lamp replies with and homesip-ua's exit code.
get_filename_component(bindir ${HOMESIPD} DIRECTORY)
execute_process(COMMAND python3 -c "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0));print(s.getsockname()[1])"
                OUTPUT_VARIABLE port OUTPUT_STRIP_TRAILING_WHITESPACE)
set(ua "${bindir}/homesip-ua message --aor U1@C1.D1.H1 --to kitchen@C1.D1.H1 --server sip:127.0.0.1:${port}")
set(commands status on status off status dance)
list(JOIN commands " " command_words)
# Short and unique: a Unix socket's path has at most 107 characters.
set(admin_socket /tmp/homesip-example-${port}.sock)
execute_process(COMMAND sh -c "
  ${HOMESIPD} --config ${BUILD_DIR}/lamp.yaml --set 'server.listen=[udp:127.0.0.1:${port}]' \
    --set server.admin_socket=${admin_socket} >${BUILD_DIR}/lamp.log 2>&1 &
  pid=$!; sleep 0.5
  trap 'kill $pid' EXIT
  for text in ${command_words}; do
    echo \"#### \$text\"; ${ua} --text \$text 2>&1; echo \"#### exit \$?\"
  done
  echo '#### ctl'; ${bindir}/homesipctl --socket ${admin_socket} --json virtual-lamp.state 2>&1; echo \"#### ctl exit \$?\"
  trap - EXIT; kill $pid; wait $pid"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
file(READ ${BUILD_DIR}/lamp.log log)
if(rc)
  message(FATAL_ERROR "homesipd with the example plugin did not stop cleanly (${rc}):\n${out}\n${log}")
endif()
# One expectation per command, in order: exit code, status line, reply body ("-" for none).
set(expected
    "0|200 OK|off"   # status: off at start (initial_state)
    "0|200 OK|on"    # on
    "0|200 OK|on"    # status: the lamp remembers
    "0|200 OK|off"   # off
    "0|200 OK|off"   # status
    "2|400 Unknown Command|-")  # dance: refused (2: a final error response)
set(transcript "${out}")
foreach(text IN LISTS commands)
  list(POP_FRONT expected expectation)
  string(REPLACE "|" ";" expectation "${expectation}")
  list(GET expectation 0 want_exit)
  list(GET expectation 1 want_status)
  list(GET expectation 2 want_reply)
  # This command's lines: from its "#### <text>" marker to its "#### exit N".
  string(REGEX MATCH "#### ${text}\n([^#]*)#### exit ([0-9]+)" section "${transcript}")
  if(NOT section)
    message(FATAL_ERROR "no answer to '${text}' in:\n${out}\n${log}")
  endif()
  set(answer "${CMAKE_MATCH_1}")
  set(exit_code "${CMAKE_MATCH_2}")
  string(FIND "${transcript}" "${section}" at)
  string(LENGTH "${section}" length)
  math(EXPR at "${at} + ${length}")
  string(SUBSTRING "${transcript}" ${at} -1 transcript)
  if(NOT exit_code STREQUAL want_exit)
    message(FATAL_ERROR "'${text}': homesip-ua exited ${exit_code}, expected ${want_exit}:\n${answer}\n${log}")
  endif()
  if(NOT answer MATCHES "MESSAGE sip:kitchen@C1\\.D1\\.H1 -> [^\n]*: ${want_status}( \\(|\n)")
    message(FATAL_ERROR "'${text}': expected '${want_status}' from the lamp, got:\n${answer}\n${log}")
  endif()
  if(want_reply STREQUAL "-")
    if(answer MATCHES "reply: ")
      message(FATAL_ERROR "'${text}': expected no reply body, got:\n${answer}")
    endif()
  elseif(NOT answer MATCHES "(^|\n)reply: ${want_reply}\n")
    message(FATAL_ERROR "'${text}': expected the lamp to answer '${want_reply}', got:\n${answer}")
  endif()
endforeach()
# The plugin's command through homesipctl: switched on, then off.
string(REGEX MATCH "#### ctl\n([^#]*)#### ctl exit ([0-9]+)" section "${out}")
set(state "${CMAKE_MATCH_1}")
if(NOT section OR NOT CMAKE_MATCH_2 STREQUAL "0" OR NOT state MATCHES "\"changes\": 2,"
   OR NOT state MATCHES "\"state\": \"off\"")
  message(FATAL_ERROR "homesipctl virtual-lamp.state: expected changes 2 and state off, got:\n${section}\n${log}")
endif()
message(STATUS "example plugin built out of tree, loaded, switched and asked:\n${out}")

# The appliance example: built out of tree, loaded after the in-tree appliance-hub, switched on and
# off through SIP and asked for a service it does not have.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/sdk/examples/fan -B ${BUILD_DIR}/fan -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${prefix} "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"
                RESULT_VARIABLE rc)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR}/fan RESULT_VARIABLE build_rc)
if(rc OR build_rc OR NOT EXISTS ${BUILD_DIR}/fan/fan.so)
  message(FATAL_ERROR "building the appliance example against the installed SDK failed")
endif()
# The lamp's server has stopped: its port is free again.
set(fan_port ${port})
file(WRITE ${BUILD_DIR}/fan.yaml "server:\n  listen: [udp:127.0.0.1:${fan_port}]\n  plugin_dirs: [${PLUGIN_DIR}, ${BUILD_DIR}/fan]\nplugins:\n  - plugin: appliance-hub\n    domain: C1.D1.H1\n  - plugin: fan\n")
set(control "${bindir}/homesip-ua control switch.fan@C1.D1.H1 --aor U1@C1.D1.H1 --server sip:127.0.0.1:${fan_port}")
execute_process(COMMAND sh -c "
  ${HOMESIPD} --config ${BUILD_DIR}/fan.yaml >${BUILD_DIR}/fan.log 2>&1 &
  pid=$!; sleep 0.5
  trap 'kill $pid' EXIT
  for service in turn_on turn_off spin; do
    echo \"#### \$service\"; ${control} \$service 2>&1; echo \"#### exit \$?\"
  done
  trap - EXIT; kill $pid; wait $pid"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
file(READ ${BUILD_DIR}/fan.log log)
if(rc)
  message(FATAL_ERROR "homesipd with the appliance example did not stop cleanly (${rc}):\n${out}\n${log}")
endif()
foreach(expectation IN ITEMS "turn_on|0|\nswitch\\.fan on {}\n" "turn_off|0|\nswitch\\.fan off {}\n"
                             "spin|2|: 400 [^\n]*\n[^#]*\"error\":\"unknown_service\"")
  string(REPLACE "|" ";" expectation "${expectation}")
  list(GET expectation 0 service)
  list(GET expectation 1 want_exit)
  list(GET expectation 2 want_text)
  string(REGEX MATCH "#### ${service}\n([^#]*)#### exit ([0-9]+)" section "${out}")
  if(NOT section OR NOT CMAKE_MATCH_2 STREQUAL want_exit OR NOT CMAKE_MATCH_1 MATCHES "${want_text}")
    message(FATAL_ERROR "'${service}' of switch.fan: expected exit ${want_exit} and '${want_text}', got:\n${section}\n${log}")
  endif()
endforeach()
message(STATUS "appliance example built out of tree and switched through appliance-hub:\n${out}")
