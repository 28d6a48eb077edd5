/* Platform and device enumeration. Every platform the ICD loader reports is asked for all of
 * its devices; a platform with none (Mesa's Clover on a machine without a supported GPU) is
 * skipped rather than treated as an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

gs_status ocl_str_info(const gs_backend *be, cl_device_id d, cl_device_info what, char *buf,
                       size_t len) {
  /* Queried at full size and truncated here: drivers reject a short buffer. */
  size_t need = 0;
  buf[0] = 0;
  OCL_CHECK(be, clGetDeviceInfo(d, what, 0, NULL, &need), "clGetDeviceInfo");
  char *tmp = malloc(need + 1);
  if (!tmp) return be->host->fail(be->host, GS_ERR_NOMEM, "opencl: out of host memory");
  cl_int e = clGetDeviceInfo(d, what, need, tmp, NULL);
  if (e != CL_SUCCESS) {
    free(tmp);
    return ocl_fail(be, e, "clGetDeviceInfo");
  }
  tmp[need] = 0;
  snprintf(buf, len, "%s", tmp);
  free(tmp);
  /* trailing blanks ("OpenCL 3.0 ") read badly in listings */
  for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--) buf[n - 1] = 0;
  return GS_OK;
}

void ocl_plat_str(cl_platform_id p, cl_platform_info what, char *buf, size_t len) {
  size_t need = 0;
  char *tmp = NULL;
  buf[0] = 0;
  if (clGetPlatformInfo(p, what, 0, NULL, &need) == CL_SUCCESS && (tmp = malloc(need + 1)) &&
      clGetPlatformInfo(p, what, need, tmp, NULL) == CL_SUCCESS) {
    tmp[need] = 0;
    snprintf(buf, len, "%s", tmp);
  }
  free(tmp);
}

gs_status ocl_probe(gs_backend *be, int *n, char *why, size_t why_len) {
  cl_uint np = 0;
  cl_int e = clGetPlatformIDs(0, NULL, &np);
  *n = 0;
  be->ndev = 0;
  if (e == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (e == CL_SUCCESS && np == 0)) {
    if (why) snprintf(why, why_len, "no OpenCL platform");
    return be->host->fail(be->host, GS_ERR_UNAVAILABLE, "opencl: no OpenCL platform");
  }
  OCL_CHECK(be, e, "clGetPlatformIDs");
  cl_platform_id *plats = calloc(np, sizeof *plats);
  if (!plats) return be->host->fail(be->host, GS_ERR_NOMEM, "opencl: out of host memory");
  e = clGetPlatformIDs(np, plats, NULL);
  if (e != CL_SUCCESS) {
    free(plats);
    return ocl_fail(be, e, "clGetPlatformIDs");
  }
  int empty = 0;
  for (cl_uint p = 0; p < np; p++) {
    cl_uint nd = 0;
    e = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
    if (e != CL_SUCCESS || nd == 0) {
      empty++; /* CL_DEVICE_NOT_FOUND: a platform without devices */
      continue;
    }
    cl_device_id ids[OCL_MAX_DEVICES];
    if (nd > OCL_MAX_DEVICES) nd = OCL_MAX_DEVICES;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL) != CL_SUCCESS) {
      empty++;
      continue;
    }
    for (cl_uint d = 0; d < nd && be->ndev < OCL_MAX_DEVICES; d++)
      be->devs[be->ndev++] = (ocl_devrec){plats[p], ids[d]};
  }
  free(plats);
  *n = be->ndev;
  if (be->ndev == 0 && why)
    snprintf(why, why_len, "no OpenCL device (%u platform%s without devices)", np,
             np == 1 ? "" : "s");
  (void)empty;
  return GS_OK;
}

gs_status ocl_lookup(gs_backend *be, int index, ocl_devrec *rec) {
  if (be->ndev < 0) {
    int n;
    char why[256];
    gs_status s = ocl_probe(be, &n, why, sizeof why);
    if (s != GS_OK) return s;
  }
  if (index < 0 || index >= be->ndev)
    return be->host->fail(be->host, GS_ERR_INVALID, "opencl: no device %d (%d found)", index,
                          be->ndev);
  *rec = be->devs[index];
  return GS_OK;
}

gs_status ocl_device_info(gs_backend *be, int index, gs_device_info *info) {
  ocl_devrec r = {0};
  gs_status s = ocl_lookup(be, index, &r);
  if (s != GS_OK) return s;
  memset(info, 0, sizeof *info);
  char drv[48], ver[72], clc[48], pname[64];
  if ((s = ocl_str_info(be, r.device, CL_DEVICE_NAME, info->name, sizeof info->name)) != GS_OK ||
      (s = ocl_str_info(be, r.device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor)) !=
          GS_OK ||
      (s = ocl_str_info(be, r.device, CL_DRIVER_VERSION, drv, sizeof drv)) != GS_OK ||
      (s = ocl_str_info(be, r.device, CL_DEVICE_VERSION, ver, sizeof ver)) != GS_OK ||
      (s = ocl_str_info(be, r.device, CL_DEVICE_OPENCL_C_VERSION, clc, sizeof clc)) != GS_OK)
    return s;
  ocl_plat_str(r.platform, CL_PLATFORM_NAME, pname, sizeof pname);
  cl_device_type type = 0;
  cl_ulong gmem = 0, maxalloc = 0;
  cl_uint cus = 0;
  size_t wg = 0;
  cl_bool avail = CL_FALSE, compiler = CL_FALSE;
  OCL_CHECK(be, clGetDeviceInfo(r.device, CL_DEVICE_TYPE, sizeof type, &type, NULL),
            "clGetDeviceInfo");
  OCL_CHECK(be, clGetDeviceInfo(r.device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL),
            "clGetDeviceInfo");
  OCL_CHECK(
      be, clGetDeviceInfo(r.device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL),
      "clGetDeviceInfo");
  OCL_CHECK(be, clGetDeviceInfo(r.device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL),
            "clGetDeviceInfo");
  OCL_CHECK(be, clGetDeviceInfo(r.device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL),
            "clGetDeviceInfo");
  OCL_CHECK(be, clGetDeviceInfo(r.device, CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL),
            "clGetDeviceInfo");
  OCL_CHECK(
      be, clGetDeviceInfo(r.device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL),
      "clGetDeviceInfo");
  snprintf(info->driver, sizeof info->driver, "%s, driver %s", ver, drv);
  snprintf(info->extra, sizeof info->extra, "platform %s; %s; %u compute units; max work-group %zu",
           pname, clc, (unsigned)cus, wg);
  info->type = (type & CL_DEVICE_TYPE_GPU)           ? GS_DEVICE_GPU_DISCRETE
               : (type & CL_DEVICE_TYPE_CPU)         ? GS_DEVICE_CPU
               : (type & CL_DEVICE_TYPE_ACCELERATOR) ? GS_DEVICE_ACCELERATOR
                                                     : GS_DEVICE_OTHER;
  if (info->type == GS_DEVICE_GPU_DISCRETE) {
    cl_bool unified = CL_FALSE;
    if (clGetDeviceInfo(r.device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL) ==
            CL_SUCCESS &&
        unified)
      info->type = GS_DEVICE_GPU_INTEGRATED;
  }
  info->memory_bytes = gmem;
  info->max_alloc_bytes = maxalloc;
  info->available = avail && compiler;
  if (!avail)
    snprintf(info->why, sizeof info->why, "device reports itself unavailable");
  else if (!compiler)
    snprintf(info->why, sizeof info->why, "no OpenCL C compiler on the device");
  return GS_OK;
}
