# Installs the SDK into a scratch prefix, builds sdk/examples/virtual-lamp out of
# tree against it, then checks that homesipd accepts the built plugin.
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
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/sdk/examples/virtual-lamp -B ${BUILD_DIR}/lamp
                        -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the example against the installed SDK failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR}/lamp RESULT_VARIABLE rc)
if(rc OR NOT EXISTS ${BUILD_DIR}/lamp/virtual-lamp.so)
  message(FATAL_ERROR "building the example plugin failed")
endif()
file(WRITE ${BUILD_DIR}/lamp.yaml "server:\n  name: H1\n  domain: C1.D1\n  listen: [udp:127.0.0.1:5999]\n  plugin_dirs: [${BUILD_DIR}/lamp]\nplugins:\n  - plugin: virtual-lamp\n    device: kitchen\n")
execute_process(COMMAND ${HOMESIPD} --config ${BUILD_DIR}/lamp.yaml --check-config RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "homesipd refused the example plugin: ${out}")
endif()
# And it works: switch the lamp on with a SIP MESSAGE, ask its state, send nonsense.
get_filename_component(bindir ${HOMESIPD} DIRECTORY)
execute_process(COMMAND python3 -c "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0));print(s.getsockname()[1])"
                OUTPUT_VARIABLE port OUTPUT_STRIP_TRAILING_WHITESPACE)
set(ua "${bindir}/homesip-ua message --aor U1@C1.D1.H1 --to kitchen@C1.D1.H1 --server sip:127.0.0.1:${port}")
execute_process(COMMAND sh -c "
  ${HOMESIPD} --config ${BUILD_DIR}/lamp.yaml --set 'server.listen=[udp:127.0.0.1:${port}]' >${BUILD_DIR}/lamp.log 2>&1 &
  pid=$!; sleep 0.5
  ${ua} --text on && ${ua} --text status && ! ${ua} --text dance; rc=$?
  kill $pid; wait $pid; exit $rc"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
if(rc)
  file(READ ${BUILD_DIR}/lamp.log log)
  message(FATAL_ERROR "the example plugin did not answer as it should (${rc}):\n${out}\n${log}")
endif()
string(FIND "${out}" "on" found_on)
if(found_on EQUAL -1)
  message(FATAL_ERROR "no lamp state in the answers:\n${out}")
endif()
message(STATUS "example plugin built out of tree, loaded and switched:\n${out}")
