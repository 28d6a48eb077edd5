/* Buffers and host transfers. A write goes straight into a mapped buffer when the device is idle,
 * and otherwise becomes a staged copy queued in stream order (vk_queue.c): it never waits. A
 * read waits for the queued work, then copies from the mapping or through a staging buffer. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

void vkb_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                 VkPipelineStageFlags dst, VkAccessFlags dst_access) {
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = src_access,
                        .dstAccessMask = dst_access};
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

gs_status vkb_buffer_create(gs_bdev *d, VkDeviceSize bytes, VkMemoryPropertyFlags want, int map,
                            const char *what, gs_bbuf *b) {
  memset(b, 0, sizeof *b);
  VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                            .size = bytes,
                            .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                     VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                     VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkResult r = vkCreateBuffer(d->dev, &bci, NULL, &b->buf);
  if (r != VK_SUCCESS) return vkb_vkfail(d->be, what, r);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(d->dev, b->buf, &req);
  /* Some memory types hold only images or only some buffers: choose among those this one takes. */
  uint32_t mem_type = UINT32_MAX;
  for (uint32_t i = 0; i < d->memprops.memoryTypeCount && mem_type == UINT32_MAX; i++)
    if ((req.memoryTypeBits & (1u << i)) &&
        (d->memprops.memoryTypes[i].propertyFlags & want) == want)
      mem_type = i;
  if (mem_type == UINT32_MAX) {
    vkb_buffer_destroy(d, b);
    return d->host->fail(d->host, GS_ERR_BACKEND,
                         "vulkan: %s: no memory type with flags 0x%x accepts it", what,
                         (unsigned)want);
  }
  VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                              .allocationSize = req.size,
                              .memoryTypeIndex = mem_type};
  r = vkAllocateMemory(d->dev, &mai, NULL, &b->mem);
  if (r == VK_SUCCESS) r = vkBindBufferMemory(d->dev, b->buf, b->mem, 0);
  if (r == VK_SUCCESS && map) r = vkMapMemory(d->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
  if (r != VK_SUCCESS) {
    vkb_buffer_destroy(d, b);
    return d->host->fail(
        d->host,
        r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? GS_ERR_NOMEM
                                                                               : GS_ERR_BACKEND,
        "vulkan: %s of %llu bytes failed: %s", what, (unsigned long long)bytes, vkb_result_str(r));
  }
  b->size = bytes;
  return GS_OK;
}

void vkb_buffer_destroy(gs_bdev *d, gs_bbuf *b) {
  if (b->map) vkUnmapMemory(d->dev, b->mem);
  if (b->buf) vkDestroyBuffer(d->dev, b->buf, NULL);
  if (b->mem) vkFreeMemory(d->dev, b->mem, NULL);
  memset(b, 0, sizeof *b);
}

gs_status vkb_buf_alloc(gs_bdev *d, size_t bytes, gs_bbuf **out) {
  uint64_t limit = d->props.limits.maxStorageBufferRange;
  if (bytes > limit)
    return d->host->fail(d->host, GS_ERR_NOMEM,
                         "vulkan: buffer of %zu bytes exceeds the device's storage buffer range "
                         "of %llu bytes",
                         bytes, (unsigned long long)limit);
  if (vkb_fault(d, GS_FAULT_ALLOC))
    return d->host->fail(
        d->host, GS_ERR_NOMEM,
        "vulkan: buffer allocation of %zu bytes failed: VK_ERROR_OUT_OF_DEVICE_MEMORY "
        "(injected by GESSL_FAULT)",
        bytes);
  gs_bbuf *b = calloc(1, sizeof *b);
  if (!b) return d->host->fail(d->host, GS_ERR_NOMEM, "vulkan: out of host memory");
  /* Zero-byte buffers do not exist in Vulkan; round to whole words. */
  size_t sz = bytes < 4 ? 4 : (bytes + 3) & ~(size_t)3;
  gs_status s = vkb_buffer_create(d, sz, d->buf_flags, d->unified, "buffer allocation", b);
  if (s != GS_OK) {
    free(b);
    return s;
  }
  if ((s = vkb_validation_check(d->be, "buf_alloc")) != GS_OK) {
    vkb_buf_free(d, b);
    return s;
  }
  *out = b;
  return GS_OK;
}

static void destroy_buf(gs_bdev *d, void *obj) {
  vkb_buffer_destroy(d, obj);
  free(obj);
}

void vkb_buf_free(gs_bdev *d, gs_bbuf *b) {
  if (!b) return;
  /* Work queued before the free (a staged write into it included) may still use the buffer:
   * it goes once that work is complete. */
  vkb_submit(d, VK_NULL_HANDLE, NULL);
  vkb_defer(d, destroy_buf, b, d->serial);
}

static gs_status check_range(const gs_bdev *d, gs_bbuf *b, size_t off, size_t bytes,
                             const char *what) {
  if (off > b->size || bytes > b->size - off)
    return d->host->fail(d->host, GS_ERR_INVALID,
                         "vulkan: %s of %zu bytes at %zu is outside a %llu-byte buffer", what,
                         bytes, off, (unsigned long long)b->size);
  return GS_OK;
}

static gs_status staging_reserve(gs_bdev *d, size_t bytes) {
  if (d->staging.buf && d->staging.size >= bytes) return GS_OK;
  vkb_buffer_destroy(d, &d->staging);
  size_t sz = 1u << 20;
  while (sz < bytes) sz *= 2;
  return vkb_buffer_create(d, sz, d->staging_flags, 1, "staging buffer allocation", &d->staging);
}

gs_status vkb_buf_write(gs_bdev *d, gs_bbuf *b, size_t off, const void *src, size_t bytes) {
  gs_status s = check_range(d, b, off, bytes, "buf_write");
  if (s != GS_OK || bytes == 0) return s;
  d->cnt.bytes_to_device += bytes;
  if (b->map && vkb_idle(d)) {
    memcpy((char *)b->map + off, src, bytes);
    return GS_OK;
  }
  return vkb_stage_write(d, b, off, src, bytes);
}

gs_status vkb_buf_read(gs_bdev *d, gs_bbuf *b, size_t off, void *dst, size_t bytes) {
  gs_status s = check_range(d, b, off, bytes, "buf_read");
  if (s != GS_OK) return s;
  d->cnt.bytes_from_device += bytes;
  if (b->map || bytes == 0) {
    if ((s = vkb_wait_all(d)) != GS_OK) return s;
    if (bytes) memcpy(dst, (const char *)b->map + off, bytes);
    return GS_OK;
  }
  /* The host waits for the read staging buffer's previous copy before reusing it. */
  if ((s = vkb_wait_idle(d)) != GS_OK || (s = staging_reserve(d, bytes)) != GS_OK) return s;
  VkResult r;
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  if ((r = vkBeginCommandBuffer(d->xfer_cmd, &bi)) != VK_SUCCESS)
    return vkb_vkfail(d->be, "vkBeginCommandBuffer (read)", r);
  vkb_barrier_in(d->xfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
  VkBufferCopy c = {.srcOffset = off, .dstOffset = 0, .size = bytes};
  vkCmdCopyBuffer(d->xfer_cmd, b->buf, d->staging.buf, 1, &c);
  vkb_barrier(d->xfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
              VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  if ((r = vkEndCommandBuffer(d->xfer_cmd)) != VK_SUCCESS)
    return vkb_vkfail(d->be, "vkEndCommandBuffer (read)", r);
  uint64_t serial;
  if ((s = vkb_submit(d, d->xfer_cmd, &serial)) != GS_OK ||
      (s = vkb_wait_serial(d, serial)) != GS_OK)
    return s;
  memcpy(dst, d->staging.map, bytes);
  return vkb_validation_check(d->be, "buf_read");
}
