/* Submissions and what the host waits for. Every vkQueueSubmit gets a serial and a fence from a
 * ring; the host waits only where the ABI needs a result (reads, sync, close) or where the ring
 * or the staging batches are all in flight (back-pressure, bounded memory). Host writes go into
 * the open transfer batch: a staging buffer and a command buffer of copies that travels with the
 * next submission, so a write never waits for the work queued before it, and the copies still
 * run in stream order. Buffers and programs freed while the device may use them are destroyed
 * once their last submission is complete.
 *
 * Every command buffer submitted here starts with a barrier from all earlier compute, transfer
 * and host writes, so a submission ends only after the ones before it: a fence therefore tells
 * that its submission and all earlier ones are complete. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

static VkFence *ring_fence(gs_bdev *d, uint64_t serial) { return &d->fences[serial % VKB_RING]; }

/* Marks serials up to `s` complete and destroys what was waiting for them. */
static void retire(gs_bdev *d, uint64_t s) {
  if (s > d->done) d->done = s;
  size_t k = 0;
  for (size_t i = 0; i < d->n_deferred; i++) {
    vkb_deferred *x = &d->deferred[i];
    if (x->serial <= d->done)
      x->destroy(d, x->obj);
    else
      d->deferred[k++] = *x;
  }
  d->n_deferred = k;
}

void vkb_poll(gs_bdev *d) {
  uint64_t s = d->done;
  while (s < d->serial && vkGetFenceStatus(d->dev, *ring_fence(d, s + 1)) == VK_SUCCESS) s++;
  retire(d, s);
}

int vkb_fault(const gs_bdev *d, gs_fault f) {
  const gs_backend_host *h = d->host;
  return GS_HAS(h, fault) && h->fault(h, f);
}

/* The host's wait timeout in nanoseconds; UINT64_MAX (for ever) when it is 0. */
static uint64_t wait_timeout_ns(const gs_bdev *d, double *seconds) {
  const gs_backend_host *h = d->host;
  *seconds = GS_HAS(h, wait_timeout) ? h->wait_timeout(h) : 0.0;
  return *seconds > 0.0 && *seconds < 1.8e10 ? (uint64_t)(*seconds * 1e9) : UINT64_MAX;
}

static gs_status lost(const gs_bdev *d) {
  return d->host->fail(
      d->host, GS_ERR_BACKEND,
      "vulkan: %s stopped answering earlier (no result in %g s, GESSL_WAIT_TIMEOUT)",
      d->props.deviceName, d->lost_after);
}

gs_status vkb_wait_serial(gs_bdev *d, uint64_t s) {
  if (s > d->serial) s = d->serial;
  if (s <= d->done) {
    d->cnt.waits += (uint64_t)d->wait_owed;
    d->wait_owed = 0;
    return GS_OK;
  }
  if (d->lost) return lost(d);
  /* Each fence waited for by name, so the validation layer sees every submission complete. */
  VkFence f[VKB_RING];
  uint32_t n = 0;
  for (uint64_t q = d->done + 1; q <= s; q++) f[n++] = *ring_fence(d, q);
  if (vkGetFenceStatus(d->dev, f[n - 1]) == VK_NOT_READY) d->cnt.waits++;
  double limit;
  VkResult r = vkWaitForFences(d->dev, n, f, VK_TRUE, wait_timeout_ns(d, &limit));
  if (r == VK_TIMEOUT) {
    /* A device that stops answering: the run ends here, naming it, rather than blocking. */
    d->lost = 1;
    d->lost_after = limit;
    return d->host->fail(
        d->host, GS_ERR_BACKEND,
        "vulkan: %s gave no result in %g s (GESSL_WAIT_TIMEOUT): the device stopped "
        "answering%s",
        d->props.deviceName, limit, d->hung ? " (injected by GESSL_FAULT)" : "");
  }
  if (r != VK_SUCCESS) return vkb_vkfail(d->be, "vkWaitForFences", r);
  retire(d, s);
  return GS_OK;
}

/* The barrier every submitted command buffer starts with (see the top of this file). */
void vkb_barrier_in(VkCommandBuffer cmd, VkPipelineStageFlags dst, VkAccessFlags dst_access) {
  vkb_barrier(cmd,
              VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                  VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
              VK_ACCESS_HOST_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
              dst, dst_access);
}

/* Ends the open transfer batch for submission; returns its command buffer or NULL. */
static VkCommandBuffer close_batch(gs_bdev *d, gs_status *s) {
  *s = GS_OK;
  if (d->xopen < 0) return VK_NULL_HANDLE;
  vkb_xbatch *x = &d->xb[d->xopen];
  d->xopen = -1;
  if (x->used == 0) return VK_NULL_HANDLE;
  vkb_barrier(x->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
              VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                  VK_PIPELINE_STAGE_HOST_BIT,
              VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                  VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT);
  VkResult r = vkEndCommandBuffer(x->cmd);
  if (r != VK_SUCCESS) {
    *s = vkb_vkfail(d->be, "vkEndCommandBuffer (transfers)", r);
    return VK_NULL_HANDLE;
  }
  x->serial = d->serial + 1; /* the submission it is about to join */
  return x->cmd;
}

gs_status vkb_submit(gs_bdev *d, VkCommandBuffer cmd, uint64_t *serial) {
  gs_status s;
  VkCommandBuffer cmds[2];
  uint32_t n = 0;
  VkCommandBuffer xfer = close_batch(d, &s);
  if (s != GS_OK) return s;
  if (xfer) cmds[n++] = xfer;
  if (cmd) cmds[n++] = cmd;
  if (serial) *serial = d->serial;
  if (n == 0) return GS_OK;
  uint64_t next = d->serial + 1;
  /* The ring slot is free once the submission VKB_RING before this one is complete. */
  if (next > VKB_RING && (s = vkb_wait_serial(d, next - VKB_RING)) != GS_OK) return s;
  VkFence *f = ring_fence(d, next);
  VkResult r;
  if (!*f) {
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(d->dev, &fci, NULL, f)) != VK_SUCCESS)
      return vkb_vkfail(d->be, "vkCreateFence", r);
  } else if ((r = vkResetFences(d->dev, 1, f)) != VK_SUCCESS) {
    return vkb_vkfail(d->be, "vkResetFences", r);
  }
  VkSubmitInfo si = {
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = n, .pCommandBuffers = cmds};
  if (d->hang_next) { /* injected: as if the device never finished it */
    d->hang_next = 0;
    d->hung = 1;
  } else if ((r = vkQueueSubmit(d->queue, 1, &si, *f)) != VK_SUCCESS) {
    return vkb_vkfail(d->be, "vkQueueSubmit", r);
  }
  d->serial = next;
  if (serial) *serial = next;
  return GS_OK;
}

gs_status vkb_wait_idle(gs_bdev *d) {
  gs_status s = vkb_submit(d, VK_NULL_HANDLE, NULL);
  return s != GS_OK ? s : vkb_wait_serial(d, d->serial);
}

gs_status vkb_wait_all(gs_bdev *d) {
  gs_status s = vkb_wait_idle(d);
  return s != GS_OK ? s : vkb_validation_check(d->be, "queued work");
}

int vkb_idle(gs_bdev *d) {
  vkb_poll(d);
  return d->done == d->serial && (d->xopen < 0 || d->xb[d->xopen].used == 0);
}

/* Opens a transfer batch with room for `bytes`: a free one (its last submission complete), or
 * after waiting for the oldest when all are in flight. */
static gs_status open_batch(gs_bdev *d, size_t bytes) {
  vkb_poll(d);
  int pick = -1;
  for (int i = 0; i < VKB_XBATCHES; i++) {
    if (d->xb[i].serial > d->done) continue;
    /* Prefer one already large enough, so staging buffers are not reallocated needlessly. */
    if (pick < 0 || (d->xb[pick].staging.size < bytes && d->xb[i].staging.size >= bytes)) pick = i;
  }
  gs_status s;
  if (pick < 0) {
    pick = 0;
    for (int i = 1; i < VKB_XBATCHES; i++)
      if (d->xb[i].serial < d->xb[pick].serial) pick = i;
    if ((s = vkb_wait_serial(d, d->xb[pick].serial)) != GS_OK) return s;
  }
  vkb_xbatch *x = &d->xb[pick];
  VkResult r;
  if (!x->cmd) {
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = d->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if ((r = vkAllocateCommandBuffers(d->dev, &cai, &x->cmd)) != VK_SUCCESS)
      return vkb_vkfail(d->be, "vkAllocateCommandBuffers (transfers)", r);
  }
  if (x->staging.size < bytes) {
    vkb_buffer_destroy(d, &x->staging);
    size_t sz = 1u << 20;
    while (sz < bytes) sz *= 2;
    s = vkb_buffer_create(d, sz, d->staging_flags, 1, "staging buffer allocation", &x->staging);
    if (s != GS_OK) return s;
  }
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  if ((r = vkBeginCommandBuffer(x->cmd, &bi)) != VK_SUCCESS)
    return vkb_vkfail(d->be, "vkBeginCommandBuffer (transfers)", r);
  vkb_barrier_in(x->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                 VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
  x->used = 0;
  d->xopen = pick;
  return GS_OK;
}

gs_status vkb_stage_write(gs_bdev *d, gs_bbuf *b, size_t off, const void *src, size_t bytes) {
  gs_status s;
  vkb_xbatch *x = d->xopen >= 0 ? &d->xb[d->xopen] : NULL;
  if (x && x->used + bytes > x->staging.size) {
    /* Full: it goes with a submission of its own, and the write takes another batch. */
    if ((s = vkb_submit(d, VK_NULL_HANDLE, NULL)) != GS_OK) return s;
    x = NULL;
  }
  if (!x) {
    if ((s = open_batch(d, bytes)) != GS_OK) return s;
    x = &d->xb[d->xopen];
  }
  memcpy((char *)x->staging.map + x->used, src, bytes);
  VkBufferCopy c = {.srcOffset = x->used, .dstOffset = off, .size = bytes};
  vkCmdCopyBuffer(x->cmd, x->staging.buf, b->buf, 1, &c);
  /* Two writes of a batch may overlap: each copy ends before the next one starts. */
  vkb_barrier(x->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
              VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
  x->used += (bytes + 15) & ~(size_t)15;
  return GS_OK;
}

gs_status vkb_defer(gs_bdev *d, void (*destroy)(gs_bdev *, void *), void *obj, uint64_t serial) {
  vkb_poll(d);
  if (serial <= d->done) {
    destroy(d, obj);
    return GS_OK;
  }
  if (d->n_deferred == d->cap_deferred) {
    size_t cap = d->cap_deferred ? 2 * d->cap_deferred : 16;
    vkb_deferred *nd = realloc(d->deferred, cap * sizeof *nd);
    if (!nd) {
      /* No room to remember it: wait for it instead. */
      gs_status s = vkb_wait_serial(d, serial);
      destroy(d, obj);
      return s;
    }
    d->deferred = nd;
    d->cap_deferred = cap;
  }
  d->deferred[d->n_deferred++] = (vkb_deferred){destroy, obj, serial};
  return GS_OK;
}

void vkb_queue_destroy(gs_bdev *d) {
  /* vkb_close has waited for the device (and left a lost one alone). */
  retire(d, d->serial);
  free(d->deferred);
  d->deferred = NULL;
  d->n_deferred = d->cap_deferred = 0;
  for (int i = 0; i < VKB_XBATCHES; i++) {
    vkb_buffer_destroy(d, &d->xb[i].staging);
    if (d->xb[i].cmd) vkFreeCommandBuffers(d->dev, d->pool, 1, &d->xb[i].cmd);
  }
  for (int i = 0; i < VKB_RING; i++)
    if (d->fences[i]) vkDestroyFence(d->dev, d->fences[i], NULL);
}
