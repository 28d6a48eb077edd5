# Libraries the file-format code needs: cJSON (safetensors headers), libpng + zlib (plots).
# Meant to be include()d once after the gessl target exists; a second include is harmless.
if(NOT TARGET gessl_io_deps)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(GESSL_CJSON REQUIRED IMPORTED_TARGET libcjson)
  find_package(PNG REQUIRED)
  add_library(gessl_io_deps INTERFACE)
  target_link_libraries(gessl_io_deps INTERFACE PkgConfig::GESSL_CJSON PNG::PNG)
  target_link_libraries(gessl PRIVATE gessl_io_deps)
endif()
