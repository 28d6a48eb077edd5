/* Opening a device: logical device, compute queue, memory types, command pool, work-group sizes
 * chosen from the limits. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

static uint32_t find_mem_type(const VkPhysicalDeviceMemoryProperties *mp,
                              VkMemoryPropertyFlags want) {
  for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
    if ((mp->memoryTypes[i].propertyFlags & want) == want) return i;
  return UINT32_MAX;
}

static uint32_t pow2_floor(uint32_t v) {
  uint32_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

static void pick_sizes(gs_bdev *d) {
  const VkPhysicalDeviceLimits *lim = &d->props.limits;
  uint32_t wg = lim->maxComputeWorkGroupInvocations;
  if (lim->maxComputeWorkGroupSize[0] < wg) wg = lim->maxComputeWorkGroupSize[0];
  if (wg > 256) wg = 256;
  d->wg = pow2_floor(wg);
  /* The GEMM tile needs TS*TS threads, 2 * 4*TS*TS floats of shared memory for the A and B
   * slices and 3 * 5*TS ints for the convolution index tables. */
  /* CPU implementations (lavapipe) run a work group as SIMD loops and pay for every barrier in
   * proportion to its size: smaller tiles measured about twice as fast there. */
  uint32_t ts = d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 8 : 16;
  while (ts > 4 && (ts * ts > lim->maxComputeWorkGroupInvocations ||
                    ts > lim->maxComputeWorkGroupSize[0] || ts > lim->maxComputeWorkGroupSize[1] ||
                    (2u * 4u * ts * ts + 15u * ts) * 4u > lim->maxComputeSharedMemorySize))
    ts /= 2;
  d->gemm_ts = ts;
  /* gemm_lanes.comp broadcasts A's rows from the lanes of a subgroup, 8 at a time: it needs 8
   * lanes and the ballot operations; elsewhere the tiled shader serves. */
  VkPhysicalDeviceSubgroupProperties sg = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                    .pNext = &sg};
  vkGetPhysicalDeviceProperties2(d->phys, &p2);
  d->gemm_lanes = d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU &&
                  (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                  (sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT) &&
                  sg.subgroupSize >= 8 && d->wg % sg.subgroupSize == 0;
  /* One subgroup per work group: a group then covers only subgroupSize * RN columns, so the
   * narrow GEMMs of a convolution (a filter gradient's C*KH*KW columns, a small batch's few
   * pixels) compute no clamped, discarded columns, and more groups share the cores. */
  d->lanes_wg = sg.subgroupSize;
  for (int i = 0; i < 3; i++) d->max_groups[i] = lim->maxComputeWorkGroupCount[i];
}

gs_status vkb_open(gs_backend *be, int index, gs_bdev **out) {
  VkPhysicalDevice phys;
  gs_status s = vkb_physical(be, index, &phys);
  if (s != GS_OK) return s;
  const gs_backend_host *bh = vkb_host(be);
  gs_bdev *d = calloc(1, sizeof *d);
  if (!d) return bh->fail(bh, GS_ERR_NOMEM, "vulkan: out of host memory opening device %d", index);
  d->be = be;
  d->host = bh;
  d->index = index;
  d->phys = phys;
  d->xopen = -1;
  vkGetPhysicalDeviceProperties(phys, &d->props);
  vkGetPhysicalDeviceMemoryProperties(phys, &d->memprops);
  pick_sizes(d);

  /* Prefer a compute-only family (the async compute queue on GPUs), else any with compute. */
  uint32_t nq = 0;
  VkQueueFamilyProperties q[32];
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
  if (nq > 32) nq = 32;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, q);
  d->qfam = UINT32_MAX;
  for (uint32_t i = 0; i < nq; i++)
    if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
      d->qfam = i;
      break;
    }
  for (uint32_t i = 0; i < nq && d->qfam == UINT32_MAX; i++)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) d->qfam = i;
  if (d->qfam == UINT32_MAX) {
    s = d->host->fail(d->host, GS_ERR_UNAVAILABLE, "vulkan: %s has no compute queue",
                      d->props.deviceName);
    goto fail;
  }
  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = d->qfam,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci};
  VkResult r = vkCreateDevice(phys, &dci, NULL, &d->dev);
  if (r != VK_SUCCESS) {
    s = vkb_vkfail(d->be, "vkCreateDevice", r);
    goto fail;
  }
  vkGetDeviceQueue(d->dev, d->qfam, 0, &d->queue);
  const char *prof = getenv("GESSL_PROFILE");
  d->profile = prof && *prof && strcmp(prof, "0") != 0;
  if (q[d->qfam].timestampValidBits) d->ts_period = d->props.limits.timestampPeriod;

  const VkMemoryPropertyFlags unified = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                        VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  /* Host-visible device-local memory on a discrete GPU is the small BAR window: use it only
   * where the device shares memory with the host. */
  int shares = d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ||
               d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  /* GESSL_VULKAN_STAGING=1 takes the discrete-GPU paths (staging copies, the tiled GEMM shader)
   * on any device, so they are tested on lavapipe too. */
  const char *staging = getenv("GESSL_VULKAN_STAGING");
  if (staging && strcmp(staging, "1") == 0) shares = d->gemm_lanes = 0;
  d->unified = shares && find_mem_type(&d->memprops, unified) != UINT32_MAX;
  if (d->unified)
    d->buf_flags = unified;
  else if (find_mem_type(&d->memprops, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) != UINT32_MAX)
    d->buf_flags = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  else
    d->buf_flags = 0;
  d->staging_flags = host;
  if (!d->unified && find_mem_type(&d->memprops, host) == UINT32_MAX) {
    s = d->host->fail(d->host, GS_ERR_UNAVAILABLE, "vulkan: %s offers no usable memory type",
                      d->props.deviceName);
    goto fail;
  }

  VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = d->qfam};
  if ((r = vkCreateCommandPool(d->dev, &pci, NULL, &d->pool)) != VK_SUCCESS) {
    s = vkb_vkfail(d->be, "vkCreateCommandPool", r);
    goto fail;
  }
  VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                     .commandPool = d->pool,
                                     .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                     .commandBufferCount = 1};
  if ((r = vkAllocateCommandBuffers(d->dev, &cai, &d->xfer_cmd)) != VK_SUCCESS) {
    s = vkb_vkfail(d->be, "vkAllocateCommandBuffers (transfers)", r);
    goto fail;
  }
  if ((s = vkb_layouts_create(d)) != GS_OK) goto fail;
  vkb_cache_load(d);
  if ((s = vkb_validation_check(d->be, "open")) != GS_OK) goto fail;
  *out = d;
  return GS_OK;
fail:
  vkb_close(d);
  return s;
}

void vkb_close(gs_bdev *d) {
  if (!d) return;
  /* Queued work ends first; a wait that gives up here marks the device lost as well. */
  if (d->dev && !d->lost) (void)vkb_wait_idle(d);
  if (d->lost) {
    /* A device that stopped answering is left alive with its objects and its instance, on
     * purpose, as the OpenCL backend leaves its queue: work it never finished may still hold
     * them, and a driver that never reports the device lost would block vkDeviceWaitIdle for
     * ever, after the error was reported and the checkpoint kept. The process is done with it. */
    vkb_keep_instance(d->be);
    free(d->deferred);
    free(d);
    return;
  }
  if (d->dev) {
    vkb_queue_destroy(d);
    vkDeviceWaitIdle(d->dev);
    vkb_cache_save(d);
    vkb_pipelines_destroy(d);
    vkb_buffer_destroy(d, &d->staging);
    if (d->pool) vkDestroyCommandPool(d->dev, d->pool, NULL);
    vkDestroyDevice(d->dev, NULL);
  }
  free(d);
}
