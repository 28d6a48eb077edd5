# Libraries the runtime needs beyond threads/libm/libdl: libpng, libjpeg-turbo (TurboJPEG) and zlib
# for the data pipeline, cJSON for configuration, reports and checkpoints metadata.
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
target_link_libraries(gessl PRIVATE PNG::PNG ZLIB::ZLIB PkgConfig::TURBOJPEG)
if(PkgConfig_FOUND)
  pkg_check_modules(CJSON IMPORTED_TARGET libcjson)
  if(CJSON_FOUND)
    target_link_libraries(gessl PRIVATE PkgConfig::CJSON)
  endif()
endif()
