# After-step hooks of the methods with device-side state (EMA teachers, MoCo's queue, DINO's
# centre) against host arithmetic, on every backend: method_hooks_<method>_<backend>.
add_executable(test_method_hooks ${CMAKE_CURRENT_LIST_DIR}/test_method_hooks.c)
target_link_libraries(test_method_hooks PRIVATE gessl m)
target_include_directories(test_method_hooks PRIVATE ${CMAKE_SOURCE_DIR}/tests)
add_dependencies(test_method_hooks gessl-cpu)
foreach(method byol mocov2 dino)
  if(NOT TARGET gessl-${method})
    continue()
  endif()
  add_dependencies(test_method_hooks gessl-${method})
  foreach(backend ${GESSL_TEST_BACKENDS})
    gessl_backend_test_env(${backend} spec label env)
    add_dependencies(test_method_hooks gessl-${backend})
    add_test(NAME method_hooks_${method}_${backend} COMMAND test_method_hooks ${method} ${spec})
    set_tests_properties(method_hooks_${method}_${backend} PROPERTIES LABELS "${label}"
      TIMEOUT 300 ENVIRONMENT "${env}")
  endforeach()
endforeach()
