/* OpenCL error codes as names, and the failure helper every cl* call goes through. */
#include <stdio.h>

#include "ocl_internal.h"

const char *ocl_err_name(cl_int e) {
  switch (e) {
#define E(x)                                                                                       \
  case x: return #x;
    // clang-format off
  E(CL_SUCCESS)
  E(CL_DEVICE_NOT_FOUND)
  E(CL_DEVICE_NOT_AVAILABLE)
  E(CL_COMPILER_NOT_AVAILABLE)
  E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
  E(CL_OUT_OF_RESOURCES)
  E(CL_OUT_OF_HOST_MEMORY)
  E(CL_PROFILING_INFO_NOT_AVAILABLE)
  E(CL_MEM_COPY_OVERLAP)
  E(CL_IMAGE_FORMAT_NOT_SUPPORTED)
  E(CL_BUILD_PROGRAM_FAILURE)
  E(CL_MAP_FAILURE)
  E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
  E(CL_COMPILE_PROGRAM_FAILURE)
  E(CL_LINKER_NOT_AVAILABLE)
  E(CL_LINK_PROGRAM_FAILURE)
  E(CL_INVALID_VALUE)
  E(CL_INVALID_PLATFORM)
  E(CL_INVALID_DEVICE)
  E(CL_INVALID_CONTEXT)
  E(CL_INVALID_QUEUE_PROPERTIES)
  E(CL_INVALID_COMMAND_QUEUE)
  E(CL_INVALID_HOST_PTR)
  E(CL_INVALID_MEM_OBJECT)
  E(CL_INVALID_BINARY)
  E(CL_INVALID_BUILD_OPTIONS)
  E(CL_INVALID_PROGRAM)
  E(CL_INVALID_PROGRAM_EXECUTABLE)
  E(CL_INVALID_KERNEL_NAME)
  E(CL_INVALID_KERNEL_DEFINITION)
  E(CL_INVALID_KERNEL)
  E(CL_INVALID_ARG_VALUE)
  E(CL_INVALID_ARG_SIZE)
  E(CL_INVALID_KERNEL_ARGS)
  E(CL_INVALID_WORK_GROUP_SIZE)
  E(CL_INVALID_WORK_ITEM_SIZE)
  E(CL_INVALID_GLOBAL_OFFSET)
  E(CL_INVALID_EVENT_WAIT_LIST)
  E(CL_INVALID_EVENT)
  E(CL_INVALID_OPERATION)
  E(CL_INVALID_BUFFER_SIZE)
  E(CL_INVALID_GLOBAL_WORK_SIZE)
  E(CL_INVALID_PROPERTY)
    // clang-format on
#undef E
  case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
  }
  return "unknown OpenCL error";
}

gs_status ocl_fail(const gs_backend *be, cl_int e, const char *what) {
  gs_status s = (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES ||
                 e == CL_OUT_OF_HOST_MEMORY)
                    ? GS_ERR_NOMEM
                    : GS_ERR_BACKEND;
  return be->host->fail(be->host, s, "opencl: %s failed: %s (%d)", what, ocl_err_name(e), (int)e);
}
