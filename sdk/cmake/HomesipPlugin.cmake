# homesip_add_plugin(<name> SOURCES <files...>)
#
# Builds <name>.so, a homesip plugin: C++20, hidden visibility (only the
# HOMESIP_PLUGIN entry point is exported), no lib prefix, so that a config
# entry "plugin: <name>" finds it. Installs it into the plugin directory.
function(homesip_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  if(TARGET homesip_sdk)
    target_link_libraries(${name} PRIVATE homesip_sdk)
  else()
    target_link_libraries(${name} PRIVATE homesip::sdk)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  if(HOMESIP_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${HOMESIP_PLUGIN_OUTPUT_DIR})
  endif()
  # No unresolved symbols left for the loader to find at run time.
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  if(HOMESIP_PLUGIN_INSTALL_DIR)
    install(TARGETS ${name} LIBRARY DESTINATION ${HOMESIP_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
