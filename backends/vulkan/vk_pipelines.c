/* Shader modules, compute pipelines (created on first use, specialised with the work-group
 * sizes picked from the device limits and with each dispatch's mode words, one pipeline per
 * shader use and mode) and the on-disk pipeline cache. */
#include "vk_internal.h"

#include "elementwise.h"
#include "gemm.h"
#include "gemm_lanes.h"
#include "pool.h"
#include "reduce.h"
#include "rows.h"
#include "strided.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
  const uint32_t *code;
  size_t bytes;
  const char *name;
} shaders[VKB_SH_COUNT] = {
    [VKB_SH_ELEMENTWISE] = {vkb_spv_elementwise, sizeof vkb_spv_elementwise, "elementwise"},
    [VKB_SH_STRIDED] = {vkb_spv_strided, sizeof vkb_spv_strided, "strided"},
    [VKB_SH_REDUCE] = {vkb_spv_reduce, sizeof vkb_spv_reduce, "reduce"},
    [VKB_SH_ROWS] = {vkb_spv_rows, sizeof vkb_spv_rows, "rows"},
    [VKB_SH_POOL] = {vkb_spv_pool, sizeof vkb_spv_pool, "pool"},
    [VKB_SH_GEMM] = {vkb_spv_gemm, sizeof vkb_spv_gemm, "gemm"},
    [VKB_SH_GEMM_LANES] = {vkb_spv_gemm_lanes, sizeof vkb_spv_gemm_lanes, "gemm_lanes"},
};

static const struct {
  vkb_shader shader;
  uint32_t mode; /* specialization constant 1 (GEMM B-fetch mode) */
  const char *name;
} pipes[VKB_P_COUNT] = {
    [VKB_P_ELEMENTWISE] = {VKB_SH_ELEMENTWISE, 0, "elementwise"},
    [VKB_P_STRIDED] = {VKB_SH_STRIDED, 0, "strided"},
    [VKB_P_REDUCE] = {VKB_SH_REDUCE, 0, "reduce"},
    [VKB_P_ROWS] = {VKB_SH_ROWS, 0, "rows"},
    [VKB_P_POOL] = {VKB_SH_POOL, 0, "pool"},
    [VKB_P_GEMM] = {VKB_SH_GEMM, 0, "gemm"},
    [VKB_P_CONV_FWD] = {VKB_SH_GEMM, 1, "conv2d (implicit gemm)"},
    [VKB_P_CONV_BWD_DATA] = {VKB_SH_GEMM, 2, "conv2d data gradient (implicit gemm)"},
    [VKB_P_CONV_BWD_FILTER] = {VKB_SH_GEMM, 3, "conv2d filter gradient (implicit gemm)"},
};

gs_status vkb_layouts_create(gs_bdev *d) {
  VkDescriptorSetLayoutBinding b[VKB_BINDINGS];
  for (uint32_t i = 0; i < VKB_BINDINGS; i++)
    b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = 1,
                                          .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo lci = {.sType =
                                             VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                         .bindingCount = VKB_BINDINGS,
                                         .pBindings = b};
  VkResult r = vkCreateDescriptorSetLayout(d->dev, &lci, NULL, &d->set_layout);
  if (r != VK_SUCCESS) return vkb_vkfail(d->be, "vkCreateDescriptorSetLayout", r);
  VkPushConstantRange pcr = {
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VKB_PC_WORDS * 4};
  VkPipelineLayoutCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                    .setLayoutCount = 1,
                                    .pSetLayouts = &d->set_layout,
                                    .pushConstantRangeCount = 1,
                                    .pPushConstantRanges = &pcr};
  r = vkCreatePipelineLayout(d->dev, &pci, NULL, &d->pipe_layout);
  if (r != VK_SUCCESS) return vkb_vkfail(d->be, "vkCreatePipelineLayout", r);
  return GS_OK;
}

gs_status vkb_pipeline(gs_bdev *d, vkb_pipe p, const uint32_t spec[2], VkPipeline *out) {
  for (size_t i = 0; i < d->n_pipes; i++) {
    const struct vkb_pipeline_entry *e = &d->pipes[i];
    if (e->pipe == p && e->spec[0] == spec[0] && e->spec[1] == spec[1]) {
      *out = e->pl;
      return GS_OK;
    }
  }
  if (d->n_pipes == d->cap_pipes) {
    size_t cap = d->cap_pipes ? 2 * d->cap_pipes : 32;
    struct vkb_pipeline_entry *np = realloc(d->pipes, cap * sizeof *np);
    if (!np)
      return d->host->fail(d->host, GS_ERR_NOMEM, "vulkan: out of host memory for pipelines");
    d->pipes = np;
    d->cap_pipes = cap;
  }
  vkb_shader sh = pipes[p].shader;
  if (sh == VKB_SH_GEMM && vkb_gemm_lanes(d, p)) sh = VKB_SH_GEMM_LANES;
  VkResult r;
  if (!d->modules[sh]) {
    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = shaders[sh].bytes,
                                    .pCode = shaders[sh].code};
    r = vkCreateShaderModule(d->dev, &mci, NULL, &d->modules[sh]);
    if (r != VK_SUCCESS)
      return d->host->fail(d->host, GS_ERR_BACKEND,
                           "vulkan: shader module '%s' creation failed: %s", shaders[sh].name,
                           vkb_result_str(r));
  }
  int gemm = sh == VKB_SH_GEMM || sh == VKB_SH_GEMM_LANES;
  /* Constant 0 the work-group size; 1 the GEMM's B-fetch mode, or a shader's mode word; 2 the
   * second mode word, or a convolution's unit stride (map entries of constants a shader lacks
   * are ignored). */
  uint32_t data[3] = {sh == VKB_SH_GEMM         ? d->gemm_ts
                      : sh == VKB_SH_GEMM_LANES ? d->lanes_wg
                                                : d->wg,
                      gemm ? pipes[p].mode : spec[0], spec[1]};
  VkSpecializationMapEntry me[3] = {{.constantID = 0, .offset = 0, .size = 4},
                                    {.constantID = 1, .offset = 4, .size = 4},
                                    {.constantID = 2, .offset = 8, .size = 4}};
  VkSpecializationInfo si = {
      .mapEntryCount = 3, .pMapEntries = me, .dataSize = sizeof data, .pData = data};
  VkComputePipelineCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = d->modules[sh],
                .pName = "main",
                .pSpecializationInfo = &si},
      .layout = d->pipe_layout};
  int injected = vkb_fault(d, GS_FAULT_BUILD);
  VkPipeline pl = VK_NULL_HANDLE;
  r = injected ? VK_ERROR_INITIALIZATION_FAILED
               : vkCreateComputePipelines(d->dev, d->cache, 1, &ci, NULL, &pl);
  if (r != VK_SUCCESS)
    return d->host->fail(d->host, GS_ERR_BACKEND, "vulkan: pipeline '%s' creation failed: %s%s",
                         pipes[p].name, vkb_result_str(r),
                         injected ? " (injected by GESSL_FAULT)" : "");
  d->pipes[d->n_pipes++] = (struct vkb_pipeline_entry){p, {spec[0], spec[1]}, pl};
  d->cache_dirty = 1;
  *out = pl;
  return GS_OK;
}

void vkb_pipelines_destroy(gs_bdev *d) {
  for (size_t i = 0; i < d->n_pipes; i++) vkDestroyPipeline(d->dev, d->pipes[i].pl, NULL);
  free(d->pipes);
  d->pipes = NULL;
  d->n_pipes = d->cap_pipes = 0;
  for (int i = 0; i < VKB_SH_COUNT; i++)
    if (d->modules[i]) vkDestroyShaderModule(d->dev, d->modules[i], NULL);
  if (d->cache) vkDestroyPipelineCache(d->dev, d->cache, NULL);
  if (d->pipe_layout) vkDestroyPipelineLayout(d->dev, d->pipe_layout, NULL);
  if (d->set_layout) vkDestroyDescriptorSetLayout(d->dev, d->set_layout, NULL);
}

/* The file name carries the pipeline-cache UUID, which changes with the device and the driver
 * build, so a stale cache is simply never found. The driver checks the header again. */
void vkb_cache_load(gs_bdev *d) {
  const char *dir = d->host->cache_dir;
  d->cache_path[0] = 0;
  void *data = NULL;
  size_t len = 0;
  if (dir && *dir) {
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++)
      snprintf(uuid + 2 * i, 3, "%02x", d->props.pipelineCacheUUID[i]);
    int w = snprintf(d->cache_path, sizeof d->cache_path, "%s/vulkan-pipelines-%s.bin", dir, uuid);
    if (w < 0 || (size_t)w >= sizeof d->cache_path) d->cache_path[0] = 0;
  }
  FILE *f = d->cache_path[0] ? fopen(d->cache_path, "rb") : NULL;
  if (f) {
    if (fseek(f, 0, SEEK_END) == 0) {
      long n = ftell(f);
      if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n))) {
        if (fread(data, 1, (size_t)n, f) == (size_t)n)
          len = (size_t)n;
        else
          free(data), data = NULL;
      }
    }
    fclose(f);
  }
  VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                  .initialDataSize = len,
                                  .pInitialData = data};
  VkResult r = vkCreatePipelineCache(d->dev, &ci, NULL, &d->cache);
  if (r != VK_SUCCESS && len) {
    /* A corrupt file is a miss: start empty. */
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    r = vkCreatePipelineCache(d->dev, &ci, NULL, &d->cache);
  }
  if (r != VK_SUCCESS) d->cache = VK_NULL_HANDLE;
  free(data);
}

/* Written to a temporary file and renamed, so readers never see half a cache; any failure just
 * leaves the cache unsaved. */
void vkb_cache_save(gs_bdev *d) {
  if (!d->cache || !d->cache_path[0] || !d->cache_dirty) return;
  d->cache_dirty = 0;
  size_t len = 0;
  if (vkGetPipelineCacheData(d->dev, d->cache, &len, NULL) != VK_SUCCESS || len == 0) return;
  void *data = malloc(len);
  if (!data) return;
  if (vkGetPipelineCacheData(d->dev, d->cache, &len, data) == VK_SUCCESS) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", d->cache_path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f) {
      int ok = fwrite(data, 1, len, f) == len;
      ok &= fclose(f) == 0;
      if (!ok || rename(tmp, d->cache_path) != 0) remove(tmp);
    }
  }
  free(data);
}
