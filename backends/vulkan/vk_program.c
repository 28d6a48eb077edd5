/* A compiled program: every launch planned into a dispatch, descriptor sets allocated and written
 * once, and the whole sequence recorded into one command buffer that each run resubmits, without
 * waiting for its previous run (the command buffer may be pending more than once; the barrier
 * it starts with orders the runs). */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gs_bprog {
  VkCommandBuffer cmd;
  VkDescriptorPool pool;
  uint64_t serial; /* the submission of its latest run */
  size_t n_dispatch;
  /* GESSL_PROFILE: a timestamp before the first dispatch and after each one; per dispatch its
   * opcode, pipeline and the device time summed over runs. */
  VkQueryPool queries;
  struct vkb_prof *prof;
};

struct vkb_prof {
  gs_opcode op;
  vkb_pipe pipe;
  uint32_t groups[3], mnk[3]; /* mnk: a GEMM pipeline's M, N, K */
  double seconds;
};

static const char *const pipe_names[VKB_P_COUNT] = {
    "elementwise", "strided",  "reduce",        "rows",           "pool",
    "gemm",        "conv_fwd", "conv_bwd_data", "conv_bwd_filter"};

/* GESSL_PROFILE: the program's costliest dispatches, to stderr, when it is freed. */
static void profile_report(const gs_bprog *p) {
  double total = 0.0;
  for (size_t i = 0; i < p->n_dispatch; i++) total += p->prof[i].seconds;
  if (total < 0.01) return; /* set-up programs (fills, copies) */
  fprintf(stderr, "vulkan profile: program of %zu dispatches, %.1f ms in all; costliest:\n",
          p->n_dispatch, total * 1e3);
  size_t shown[12] = {0};
  for (int r = 0; r < 12; r++) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < p->n_dispatch; i++) {
      int seen = 0;
      for (int q = 0; q < r; q++) seen |= shown[q] == i;
      if (!seen && (best == SIZE_MAX || p->prof[i].seconds > p->prof[best].seconds)) best = i;
    }
    if (best == SIZE_MAX || p->prof[best].seconds <= 0.0) break;
    shown[r] = best;
    const struct vkb_prof *x = &p->prof[best];
    char mnk[48] = "";
    if (x->pipe >= VKB_P_GEMM)
      snprintf(mnk, sizeof mnk, " M %u N %u K %u", x->mnk[0], x->mnk[1], x->mnk[2]);
    fprintf(stderr, "  %4zu %-8s %-17s %8.1f ms %5.1f%%  %s groups %ux%ux%u%s\n", best,
            gs_opfamily_name(gs_opcode_family(x->op)), gs_opcode_name(x->op), x->seconds * 1e3,
            100.0 * x->seconds / total, pipe_names[x->pipe], x->groups[0], x->groups[1],
            x->groups[2], mnk);
  }
  /* Then the time per opcode, summed over the program's dispatches. */
  double per_op[GS_OP_COUNT] = {0};
  for (size_t i = 0; i < p->n_dispatch; i++) per_op[p->prof[i].op] += p->prof[i].seconds;
  fprintf(stderr, "  per opcode:");
  for (int op = 0; op < GS_OP_COUNT; op++)
    if (per_op[op] >= 0.005 * total)
      fprintf(stderr, " %s %.1f%%", gs_opcode_name((gs_opcode)op), 100.0 * per_op[op] / total);
  fprintf(stderr, "\n");
}

static void destroy_prog(gs_bdev *d, void *obj) {
  gs_bprog *p = obj;
  if (p->prof) profile_report(p);
  if (p->cmd) vkFreeCommandBuffers(d->dev, d->pool, 1, &p->cmd);
  if (p->pool) vkDestroyDescriptorPool(d->dev, p->pool, NULL);
  if (p->queries) vkDestroyQueryPool(d->dev, p->queries, NULL);
  free(p->prof);
  free(p);
}

/* GESSL_PROFILE: the query pool and the per-dispatch records (none when the queue has no
 * timestamps: the program then runs untimed). */
static gs_status profile_create(gs_bdev *d, gs_bprog *p, const vkb_dispatch *xs, size_t n) {
  if (!d->profile || d->ts_period <= 0.0 || n == 0) return GS_OK;
  p->prof = calloc(n, sizeof *p->prof);
  if (!p->prof)
    return d->host->fail(d->host, GS_ERR_NOMEM, "vulkan: out of host memory profiling a program");
  for (size_t i = 0; i < n; i++) {
    struct vkb_prof *x = &p->prof[i];
    x->op = xs[i].op;
    x->pipe = xs[i].pipe;
    memcpy(x->groups, xs[i].groups, sizeof x->groups);
    memcpy(x->mnk, xs[i].pc, sizeof x->mnk);
  }
  VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                               .queryType = VK_QUERY_TYPE_TIMESTAMP,
                               .queryCount = (uint32_t)(n + 1)};
  VkResult r = vkCreateQueryPool(d->dev, &qci, NULL, &p->queries);
  return r == VK_SUCCESS ? GS_OK : vkb_vkfail(d->be, "vkCreateQueryPool", r);
}

/* GESSL_PROFILE: waits for the run just submitted and adds its dispatches' device times to the
 * program's and the device's counters. The wait is the profile's: it is counted only when the
 * host next waits for a result (vk_queue.c), so a step's count is the one it has unprofiled. */
static gs_status profile_collect(gs_bdev *d, gs_bprog *p) {
  uint64_t waits = d->cnt.waits;
  gs_status s = vkb_wait_serial(d, p->serial);
  d->wait_owed |= d->cnt.waits != waits;
  d->cnt.waits = waits;
  if (s != GS_OK) return s;
  size_t n = p->n_dispatch;
  uint64_t *t = malloc((n + 1) * sizeof *t);
  if (!t) return d->host->fail(d->host, GS_ERR_NOMEM, "vulkan: out of host memory profiling");
  VkResult r =
      vkGetQueryPoolResults(d->dev, p->queries, 0, (uint32_t)(n + 1), (n + 1) * sizeof *t, t,
                            sizeof *t, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r != VK_SUCCESS) {
    free(t);
    return vkb_vkfail(d->be, "vkGetQueryPoolResults", r);
  }
  for (size_t i = 0; i < n; i++) {
    double sec = t[i + 1] > t[i] ? (double)(t[i + 1] - t[i]) * d->ts_period * 1e-9 : 0.0;
    p->prof[i].seconds += sec;
    d->cnt.seconds[gs_opcode_family(p->prof[i].op)] += sec;
  }
  free(t);
  return GS_OK;
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
  if (p->queries) vkCmdResetQueryPool(p->cmd, p->queries, 0, (uint32_t)(n + 1));
  /* Earlier uploads and programs (host writes, copies, shaders) before the first dispatch. */
  vkb_barrier_in(p->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                 VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  if (p->queries) vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->queries, 0);
  VkPipeline bound = VK_NULL_HANDLE;
  gs_status s = GS_OK;
  for (size_t i = 0; i < n && s == GS_OK; i++) {
    VkPipeline pl;
    if ((s = vkb_pipeline(d, xs[i].pipe, xs[i].spec, &pl)) != GS_OK) break;
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
    if (p->queries)
      vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->queries,
                          (uint32_t)i + 1);
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
  p->n_dispatch = m;
  if (s == GS_OK) s = profile_create(d, p, xs, m);
  if (s == GS_OK) s = record(d, p, xs, m);
  free(xs);
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
  if (p->queries && (s = profile_collect(d, p)) != GS_OK) return s;
  return vkb_validation_check(d->be, "prog_run");
}
