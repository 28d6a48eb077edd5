/* The plugin's context: its Vulkan instance, the list of physical devices, and the optional
 * validation layer whose errors become gessl errors. Each context has its own instance, so two
 * runtimes in one process never share one. */
#include "vk_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VKB_MAX_DEVICES 16

typedef struct vkb_physdev {
  VkPhysicalDevice phys;
  gs_device_info info;
} vkb_physdev;

struct gs_backend {
  const gs_backend_host *host;
  pthread_mutex_t lock; /* probe */
  int probed;
  gs_status probe_status;
  char probe_why[256];
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  int validation;
  int n;
  vkb_physdev devs[VKB_MAX_DEVICES];
  /* Validation errors since the last check; the messenger may call from driver threads. */
  atomic_int val_errors;
  pthread_mutex_t val_lock;
  char val_first[512];
  int keep_instance; /* a device that stopped answering was left alive (vkb_close) */
};

const gs_backend_host *vkb_host(const gs_backend *be) { return be->host; }

const char *vkb_result_str(VkResult r) {
  switch (r) {
  case VK_SUCCESS: return "VK_SUCCESS";
  case VK_NOT_READY: return "VK_NOT_READY";
  case VK_TIMEOUT: return "VK_TIMEOUT";
  case VK_INCOMPLETE: return "VK_INCOMPLETE";
  case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
  case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
  case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
  case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
  case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
  case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
  case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
  case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
  case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
  case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
  case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
  case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
  case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
  case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
  default: return "VkResult error";
  }
}

gs_status vkb_vkfail(const gs_backend *be, const char *what, VkResult r) {
  gs_status s = GS_ERR_BACKEND;
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) s = GS_ERR_NOMEM;
  return be->host->fail(be->host, s, "vulkan: %s failed: %s (%d)", what, vkb_result_str(r), (int)r);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *data,
                                               void *user) {
  (void)type;
  gs_backend *be = user;
  const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
  int err = (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0;
  fprintf(stderr, "gessl vulkan validation %s: %s\n", err ? "error" : "warning", msg);
  if (err) {
    pthread_mutex_lock(&be->val_lock);
    if (atomic_load(&be->val_errors) == 0) snprintf(be->val_first, sizeof be->val_first, "%s", msg);
    atomic_fetch_add(&be->val_errors, 1);
    pthread_mutex_unlock(&be->val_lock);
  }
  return VK_FALSE;
}

gs_status vkb_validation_check(gs_backend *be, const char *where) {
  if (atomic_load(&be->val_errors) == 0) return GS_OK;
  char first[512];
  pthread_mutex_lock(&be->val_lock);
  int n = atomic_exchange(&be->val_errors, 0);
  snprintf(first, sizeof first, "%s", be->val_first);
  pthread_mutex_unlock(&be->val_lock);
  return be->host->fail(be->host, GS_ERR_BACKEND, "vulkan: %d validation error(s) by %s; first: %s",
                        n, where, first);
}

static int has_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkLayerProperties *p = calloc(n, sizeof *p);
  if (!p) return 0;
  int found = 0;
  if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].layerName, name) == 0;
  free(p);
  return found;
}

static const char *vendor_name(uint32_t id, char *buf, size_t len) {
  switch (id) {
  case 0x10DE: return "NVIDIA";
  case 0x1002: return "AMD";
  case 0x8086: return "Intel";
  case 0x13B5: return "ARM";
  case 0x5143: return "Qualcomm";
  case 0x106B: return "Apple";
  case 0x10005: return "Mesa";
  default: snprintf(buf, len, "vendor 0x%04x", id); return buf;
  }
}

static gs_device_type map_type(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return GS_DEVICE_GPU_DISCRETE;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return GS_DEVICE_GPU_INTEGRATED;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return GS_DEVICE_CPU;
  default: return GS_DEVICE_OTHER;
  }
}

/* Lower sorts first: GPUs before the rest, CPU implementations last. */
static int type_rank(gs_device_type t) {
  switch (t) {
  case GS_DEVICE_GPU_DISCRETE: return 0;
  case GS_DEVICE_GPU_INTEGRATED: return 1;
  case GS_DEVICE_CPU: return 3;
  default: return 2;
  }
}

static void describe(VkPhysicalDevice phys, gs_device_info *info) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(phys, &p);
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%.127s", p.deviceName);
  char vb[32];
  snprintf(info->vendor, sizeof info->vendor, "%s", vendor_name(p.vendorID, vb, sizeof vb));
  info->type = map_type(p.deviceType);

  VkPhysicalDeviceDriverProperties drv = {.sType =
                                              VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceMaintenance3Properties m3 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                    .pNext = &m3};
  int has_drv = p.apiVersion >= VK_API_VERSION_1_2;
  if (has_drv) m3.pNext = &drv;
  if (p.apiVersion >= VK_API_VERSION_1_1) vkGetPhysicalDeviceProperties2(phys, &p2);
  if (has_drv)
    snprintf(info->driver, sizeof info->driver, "Vulkan %u.%u.%u, %.40s %.60s",
             VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion),
             VK_API_VERSION_PATCH(p.apiVersion), drv.driverName, drv.driverInfo);
  else
    snprintf(info->driver, sizeof info->driver, "Vulkan %u.%u.%u, driver 0x%x",
             VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion),
             VK_API_VERSION_PATCH(p.apiVersion), p.driverVersion);

  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(phys, &mp);
  for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
    if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
        mp.memoryHeaps[i].size > info->memory_bytes)
      info->memory_bytes = mp.memoryHeaps[i].size;
  /* A buffer is bound whole to a storage descriptor, so it may not exceed the storage range. */
  uint64_t max_alloc = p.limits.maxStorageBufferRange;
  if (p.apiVersion >= VK_API_VERSION_1_1 && m3.maxMemoryAllocationSize < max_alloc)
    max_alloc = m3.maxMemoryAllocationSize;
  info->max_alloc_bytes = max_alloc;
  snprintf(info->extra, sizeof info->extra,
           "max work-group invocations %u, shared memory %u KiB, push constants %u B",
           p.limits.maxComputeWorkGroupInvocations, p.limits.maxComputeSharedMemorySize / 1024,
           p.limits.maxPushConstantsSize);

  info->available = 1;
  if (p.apiVersion < VK_API_VERSION_1_1) {
    info->available = 0;
    snprintf(info->why, sizeof info->why, "Vulkan %u.%u device, 1.1 or later is needed",
             VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
    return;
  }
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
  VkQueueFamilyProperties q[32];
  if (nq > 32) nq = 32;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, q);
  int compute = 0;
  for (uint32_t i = 0; i < nq; i++) compute |= (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) != 0;
  if (!compute) {
    info->available = 0;
    snprintf(info->why, sizeof info->why, "no compute queue");
  }
}

/* Probe failures are kept as text so that every later probe can report them again. */
static gs_status probe_fail(gs_backend *be, gs_status s, const char *fmt, ...) GS_PRINTF(3, 4);
static gs_status probe_fail(gs_backend *be, gs_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(be->probe_why, sizeof be->probe_why, fmt, ap);
  va_end(ap);
  return s;
}

static gs_status do_probe(gs_backend *be) {
  uint32_t api = VK_API_VERSION_1_0;
  VkResult r = vkEnumerateInstanceVersion(&api);
  if (r != VK_SUCCESS || api < VK_API_VERSION_1_1)
    return probe_fail(be, GS_ERR_UNAVAILABLE,
                      "no Vulkan device: the Vulkan loader supports only %u.%u, 1.1 is needed",
                      VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
  const char *env = getenv("GESSL_VULKAN_VALIDATION");
  be->validation = env && strcmp(env, "1") == 0;
  const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
  const char *exts[2] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME,
                         VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
  if (be->validation && !has_layer(layers[0]))
    return probe_fail(be, GS_ERR_UNAVAILABLE,
                      "vulkan: GESSL_VULKAN_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not "
                      "installed (Debian: vulkan-validationlayers)");
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "gessl",
                           .pEngineName = "gessl",
                           .apiVersion = VK_API_VERSION_1_2};
  VkDebugUtilsMessengerCreateInfoEXT dbg = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_debug,
      .pUserData = be};
  /* Synchronization validation too: it checks the barriers between dependent dispatches. */
  VkValidationFeatureEnableEXT enable[1] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                      .pNext = &dbg,
                                      .enabledValidationFeatureCount = 1,
                                      .pEnabledValidationFeatures = enable};
  VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                             .pNext = be->validation ? &features : NULL,
                             .pApplicationInfo = &app,
                             .enabledLayerCount = be->validation ? 1 : 0,
                             .ppEnabledLayerNames = layers,
                             .enabledExtensionCount = be->validation ? 2 : 0,
                             .ppEnabledExtensionNames = exts};
  r = vkCreateInstance(&ci, NULL, &be->instance);
  if (r != VK_SUCCESS)
    return probe_fail(be, GS_ERR_UNAVAILABLE, "no Vulkan device: vkCreateInstance failed: %s%s",
                      vkb_result_str(r),
                      r == VK_ERROR_INCOMPATIBLE_DRIVER ? " (no Vulkan driver installed)" : "");
  if (be->validation) {
    PFN_vkCreateDebugUtilsMessengerEXT create =
        (PFN_vkCreateDebugUtilsMessengerEXT)(void *)vkGetInstanceProcAddr(
            be->instance, "vkCreateDebugUtilsMessengerEXT");
    if (!create || (r = create(be->instance, &dbg, NULL, &be->messenger)) != VK_SUCCESS)
      be->host->warn(be->host, "vulkan: cannot install the validation messenger (%s)",
                     create ? vkb_result_str(r) : "vkCreateDebugUtilsMessengerEXT missing");
  }
  uint32_t n = 0;
  r = vkEnumeratePhysicalDevices(be->instance, &n, NULL);
  if (r != VK_SUCCESS)
    return probe_fail(be, GS_ERR_UNAVAILABLE,
                      "no Vulkan device: vkEnumeratePhysicalDevices failed: %s", vkb_result_str(r));
  if (n == 0)
    return probe_fail(be, GS_ERR_UNAVAILABLE,
                      "no Vulkan device: the loader found no physical device (no driver "
                      "installed, or VK_ICD_FILENAMES points nowhere)");
  VkPhysicalDevice phys[VKB_MAX_DEVICES];
  if (n > VKB_MAX_DEVICES) n = VKB_MAX_DEVICES;
  r = vkEnumeratePhysicalDevices(be->instance, &n, phys);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE)
    return probe_fail(be, GS_ERR_UNAVAILABLE,
                      "no Vulkan device: vkEnumeratePhysicalDevices failed: %s", vkb_result_str(r));
  for (uint32_t i = 0; i < n; i++) {
    vkb_physdev pd = {.phys = phys[i]};
    describe(phys[i], &pd.info);
    /* Insertion sort by preference keeps the loader's order among equals. */
    int j = be->n;
    while (j > 0 && type_rank(be->devs[j - 1].info.type) > type_rank(pd.info.type)) {
      be->devs[j] = be->devs[j - 1];
      j--;
    }
    be->devs[j] = pd;
    be->n++;
  }
  return GS_OK;
}

gs_status vkb_probe(gs_backend *be, int *n, char *why, size_t why_len) {
  pthread_mutex_lock(&be->lock);
  if (!be->probed) {
    be->probed = 1;
    be->probe_status = do_probe(be);
    if (be->probe_status != GS_OK) be->n = 0;
  }
  gs_status s = be->probe_status;
  *n = be->n;
  pthread_mutex_unlock(&be->lock);
  if (s != GS_OK) {
    if (why && why_len) snprintf(why, why_len, "%s", be->probe_why);
    return be->host->fail(be->host, s, "%s", be->probe_why);
  }
  if (why && why_len) why[0] = 0;
  return GS_OK;
}

gs_status vkb_device_info(gs_backend *be, int index, gs_device_info *info) {
  if (index < 0 || index >= be->n)
    return be->host->fail(be->host, GS_ERR_INVALID, "vulkan: no device %d (%d found)", index,
                          be->n);
  *info = be->devs[index].info;
  return GS_OK;
}

gs_status vkb_physical(gs_backend *be, int index, VkPhysicalDevice *out) {
  if (index < 0 || index >= be->n)
    return be->host->fail(be->host, GS_ERR_INVALID, "vulkan: no device %d (%d found)", index,
                          be->n);
  if (!be->devs[index].info.available)
    return be->host->fail(be->host, GS_ERR_UNAVAILABLE, "vulkan: device %d (%s) cannot be used: %s",
                          index, be->devs[index].info.name, be->devs[index].info.why);
  *out = be->devs[index].phys;
  return GS_OK;
}

gs_status vkb_create(const gs_backend_host *host, gs_backend **out) {
  gs_backend *be = calloc(1, sizeof *be);
  if (!be) return host->fail(host, GS_ERR_NOMEM, "vulkan: out of host memory");
  be->host = host;
  pthread_mutex_init(&be->lock, NULL);
  pthread_mutex_init(&be->val_lock, NULL);
  atomic_init(&be->val_errors, 0);
  *out = be;
  return GS_OK;
}

void vkb_keep_instance(gs_backend *be) { be->keep_instance = 1; }

/* The instance goes with the context (the validation layer then reports leaked objects), unless
 * a device of it stopped answering and was left alive: an instance must outlive its devices. */
void vkb_destroy(gs_backend *be) {
  if (!be) return;
  if (be->instance && !be->keep_instance) {
    if (be->messenger) {
      PFN_vkDestroyDebugUtilsMessengerEXT destroy =
          (PFN_vkDestroyDebugUtilsMessengerEXT)(void *)vkGetInstanceProcAddr(
              be->instance, "vkDestroyDebugUtilsMessengerEXT");
      if (destroy) destroy(be->instance, be->messenger, NULL);
    }
    vkDestroyInstance(be->instance, NULL);
  }
  pthread_mutex_destroy(&be->lock);
  pthread_mutex_destroy(&be->val_lock);
  free(be);
}
