/* A compiled program: every launch planned into a dispatch, descriptor sets allocated and written
 * once, and the whole sequence recorded into one command buffer that each run resubmits, without
 * waiting for its previous run (the command buffer may be pending more than once; the barrier
 * it starts with orders the runs). */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

struct gs_bprog {
  VkCommandBuffer cmd;
  VkDescriptorPool pool;
  uint64_t serial; /* the submission of its latest run */
  size_t n_dispatch;
};

static void destroy_prog(gs_bdev *d, void *obj) {
  gs_bprog *p = obj;
  if (p->cmd) vkFreeCommandBuffers(d->dev, d->pool, 1, &p->cmd);
  if (p->pool) vkDestroyDescriptorPool(d->dev, p->pool, NULL);
  free(p);
}

void vkb_prog_free(gs_bdev *d, gs_bprog *p) {
  /* A run still in flight keeps the command buffer and descriptor sets until it ends. */
  if (p) vkb_defer(d, destroy_prog, p, p->serial);
}

static gs_status record(gs_bdev *d, gs_bprog *p, const vkb_dispatch *xs, size_t n) {
  VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                     .commandPool = d->pool,
                                     .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                     .commandBufferCount = 1};
  VkResult r = vkAllocateCommandBuffers(d->dev, &cai, &p->cmd);
  if (r != VK_SUCCESS) return vkb_vkfail(d->be, "vkAllocateCommandBuffers (program)", r);
  VkDescriptorSet *sets = NULL;
  if (n) {
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = (uint32_t)(n * VKB_BINDINGS)};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = (uint32_t)n,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    if ((r = vkCreateDescriptorPool(d->dev, &pci, NULL, &p->pool)) != VK_SUCCESS)
      return vkb_vkfail(d->be, "vkCreateDescriptorPool", r);
    sets = malloc(n * sizeof *sets);
    VkDescriptorSetLayout *layouts = malloc(n * sizeof *layouts);
    if (!sets || !layouts) {
      free(sets);
      free(layouts);
      return d->host->fail(d->host, GS_ERR_NOMEM, "vulkan: out of host memory recording a program");
    }
    for (size_t i = 0; i < n; i++) layouts[i] = d->set_layout;
    VkDescriptorSetAllocateInfo dai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                       .descriptorPool = p->pool,
                                       .descriptorSetCount = (uint32_t)n,
                                       .pSetLayouts = layouts};
    r = vkAllocateDescriptorSets(d->dev, &dai, sets);
    free(layouts);
    if (r != VK_SUCCESS) {
      free(sets);
      return vkb_vkfail(d->be, "vkAllocateDescriptorSets", r);
    }
    for (size_t i = 0; i < n; i++) {
      VkDescriptorBufferInfo bi[VKB_BINDINGS];
      VkWriteDescriptorSet w[VKB_BINDINGS];
      for (uint32_t k = 0; k < VKB_BINDINGS; k++) {
        /* Unused bindings get the output buffer: every binding of the layout stays valid. */
        gs_bbuf *b = xs[i].bind[k] ? xs[i].bind[k] : xs[i].bind[VKB_OUT_BINDING];
        bi[k] = (VkDescriptorBufferInfo){.buffer = b->buf, .offset = 0, .range = VK_WHOLE_SIZE};
        w[k] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = sets[i],
                                      .dstBinding = k,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[k]};
      }
      vkUpdateDescriptorSets(d->dev, VKB_BINDINGS, w, 0, NULL);
    }
  }

  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT};
  if ((r = vkBeginCommandBuffer(p->cmd, &bi)) != VK_SUCCESS) {
    free(sets);
    return vkb_vkfail(d->be, "vkBeginCommandBuffer", r);
  }
  /* Earlier uploads and programs (host writes, copies, shaders) before the first dispatch. */
  vkb_barrier_in(p->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                 VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  VkPipeline bound = VK_NULL_HANDLE;
  gs_status s = GS_OK;
  for (size_t i = 0; i < n && s == GS_OK; i++) {
    VkPipeline pl;
    if ((s = vkb_pipeline(d, xs[i].pipe, &pl)) != GS_OK) break;
    if (pl != bound) vkCmdBindPipeline(p->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pl);
    bound = pl;
    vkCmdBindDescriptorSets(p->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe_layout, 0, 1, &sets[i],
                            0, NULL);
    vkCmdPushConstants(p->cmd, d->pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VKB_PC_WORDS * 4,
                       xs[i].pc);
    vkCmdDispatch(p->cmd, xs[i].groups[0], xs[i].groups[1], xs[i].groups[2]);
    /* Conservative: each launch may read what the previous ones wrote. */
    vkb_barrier(p->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  }
  free(sets);
  /* Results visible to copies (staged reads) and to the host (mapped reads). */
  vkb_barrier(p->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
              VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
              VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_READ_BIT);
  r = vkEndCommandBuffer(p->cmd);
  if (s == GS_OK && r != VK_SUCCESS) s = vkb_vkfail(d->be, "vkEndCommandBuffer", r);
  return s;
}

gs_status vkb_prog_compile(gs_bdev *d, const gs_launch *ls, size_t n, gs_bprog **out) {
  gs_bprog *p = calloc(1, sizeof *p);
  vkb_dispatch *xs = n ? malloc(n * sizeof *xs) : NULL;
  if (!p || (n && !xs)) {
    free(p);
    free(xs);
    return d->host->fail(d->host, GS_ERR_NOMEM, "vulkan: out of host memory compiling %zu launches",
                         n);
  }
  gs_status s = GS_OK;
  size_t m = 0;
  for (size_t i = 0; i < n && s == GS_OK; i++) {
    int has = 0;
    s = vkb_plan(d, &ls[i], &xs[m], &has);
    if (s == GS_OK && has) m++;
  }
  if (s == GS_OK) s = record(d, p, xs, m);
  free(xs);
  p->n_dispatch = m;
  if (s == GS_OK) s = vkb_validation_check(d->be, "prog_compile");
  /* New pipelines reach the disk now, not only at close: a run that dies still leaves them. */
  if (s == GS_OK) vkb_cache_save(d);
  if (s != GS_OK) {
    destroy_prog(d, p);
    return s;
  }
  *out = p;
  return GS_OK;
}

gs_status vkb_prog_run(gs_bdev *d, gs_bprog *p) {
  if (vkb_fault(d, GS_FAULT_LAUNCH))
    return vkb_vkfail(d->be, "vkQueueSubmit (injected by GESSL_FAULT)", VK_ERROR_DEVICE_LOST);
  d->hang_next = vkb_fault(d, GS_FAULT_HANG);
  gs_status s = vkb_submit(d, p->cmd, &p->serial);
  if (s != GS_OK) return s;
  d->cnt.launches += p->n_dispatch;
  return vkb_validation_check(d->be, "prog_run");
}
