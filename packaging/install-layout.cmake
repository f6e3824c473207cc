# Runs at install time (install(CODE) in CMakeLists.txt), when CMAKE_INSTALL_PREFIX is the prefix
# of this install (--prefix, cpack's /usr) and file(INSTALL) adds DESTDIR. Writes the unit with
# the path of the installed homesipd; under /usr also the Debian layout outside /usr.
set(HOMESIP_BINDIR "${CMAKE_INSTALL_PREFIX}/${HOMESIP_INSTALL_BINDIR}")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir /lib/systemd/system)
else()
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
# One staged unit per destination: installs into two places at once (tests, cpack) do not
# overwrite each other's.
string(MD5 stage "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
configure_file("${HOMESIP_UNIT_TEMPLATE}" "${HOMESIP_UNIT_STAGE}/${stage}/homesipd@.service" @ONLY)
file(INSTALL DESTINATION "${unit_dir}" TYPE FILE FILES "${HOMESIP_UNIT_STAGE}/${stage}/homesipd@.service")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  # The unit's homesipd@NAME reads /etc/homesip/NAME.yaml: the examples are the configs.
  file(GLOB configs "${HOMESIP_EXAMPLES}/*.yaml")
  file(INSTALL DESTINATION /etc/homesip TYPE FILE FILES ${configs})
  # The parent of every instance's StateDirectory=homesip/NAME; postinst gives it to homesip.
  file(MAKE_DIRECTORY "$ENV{DESTDIR}/var/lib/homesip")
endif()
