/* Vulkan backend internals shared by the plugin's files. */
#ifndef GESSL_VK_INTERNAL_H
#define GESSL_VK_INTERNAL_H

#include "gessl/backend.h"

#include <vulkan/vulkan.h>

/* Descriptor bindings of every shader: 0..5 the launch inputs (in the order the shader expects),
 * 6 the output. One set layout and one pipeline layout serve every pipeline. */
#define VKB_BINDINGS 7
#define VKB_OUT_BINDING 6
#define VKB_LANES_RM 32 /* rows per invocation of gemm_lanes.comp (its RM) */
#define VKB_LANES_RN 4  /* columns per invocation of gemm_lanes.comp (its RN) */
#define VKB_PC_WORDS 32 /* 128 bytes: the push-constant size every device supports */

typedef enum vkb_shader {
  VKB_SH_ELEMENTWISE = 0,
  VKB_SH_STRIDED,
  VKB_SH_REDUCE,
  VKB_SH_ROWS,
  VKB_SH_POOL,
  VKB_SH_GEMM,
  VKB_SH_GEMM_LANES,
  VKB_SH_COUNT
} vkb_shader;

/* A pipeline is a shader plus its specialization; the GEMM shader has one per B-fetch mode. */
typedef enum vkb_pipe {
  VKB_P_ELEMENTWISE = 0,
  VKB_P_STRIDED,
  VKB_P_REDUCE,
  VKB_P_ROWS,
  VKB_P_POOL,
  VKB_P_GEMM,
  VKB_P_CONV_FWD,
  VKB_P_CONV_BWD_DATA,
  VKB_P_CONV_BWD_FILTER,
  VKB_P_COUNT
} vkb_pipe;

/* Submissions in flight before the next one waits for the oldest, and transfer batches (staged
 * host writes) in flight before a write waits for the oldest: bounds on memory, not on speed. */
#define VKB_RING 128
#define VKB_XBATCHES 8

struct gs_bbuf {
  VkBuffer buf;
  VkDeviceMemory mem;
  VkDeviceSize size;
  void *map; /* persistent mapping when the buffer lives in host-visible memory */
};

/* Host writes recorded as copies from a staging buffer, submitted with the next submission. */
typedef struct vkb_xbatch {
  VkCommandBuffer cmd;
  gs_bbuf staging;
  size_t used;     /* bytes of staging taken */
  uint64_t serial; /* submission that carried it last (0: none) */
} vkb_xbatch;

/* Something to destroy once submission `serial` is complete. */
typedef struct vkb_deferred {
  void (*destroy)(gs_bdev *, void *);
  void *obj;
  uint64_t serial;
} vkb_deferred;

struct gs_bdev {
  gs_backend *be;
  const gs_backend_host *host; /* be's host table: every failure goes through host->fail */
  int index;
  VkPhysicalDevice phys;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties memprops;
  VkDevice dev;
  VkQueue queue;
  uint32_t qfam;
  /* Buffers go to device-local memory; when that memory is also host-visible and coherent
   * (unified devices such as lavapipe or integrated GPUs) they are mapped and no staging is used.
   */
  VkMemoryPropertyFlags buf_flags;
  int unified;
  VkMemoryPropertyFlags staging_flags;
  gs_bbuf staging; /* reads from unmapped buffers; grows on demand */
  VkCommandPool pool;
  VkCommandBuffer xfer_cmd; /* reads from unmapped buffers */
  /* vk_queue.c: serials of the latest submission and of the latest known complete. */
  uint64_t serial, done;
  VkFence fences[VKB_RING]; /* submission s signals fences[s % VKB_RING] */
  vkb_xbatch xb[VKB_XBATCHES];
  int xopen; /* index of the batch recording host writes, or -1 */
  vkb_deferred *deferred;
  size_t n_deferred, cap_deferred;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout pipe_layout;
  VkPipelineCache cache;
  char cache_path[1024]; /* "" when the cache is off */
  int cache_dirty;       /* pipelines created since the cache was last saved */
  VkShaderModule modules[VKB_SH_COUNT];
  /* Pipelines per shader use and specialization (vk_pipelines.c), created on first use. */
  struct vkb_pipeline_entry {
    vkb_pipe pipe;
    uint32_t spec[2];
    VkPipeline pl;
  } * pipes;
  size_t n_pipes, cap_pipes;
  uint32_t wg;      /* 1-D work-group size, a power of two */
  uint32_t gemm_ts; /* GEMM threads per tile side */
  /* CPU devices run MATMUL and the convolutions with gemm_lanes.comp (one column per
   * invocation, VKB_LANES_RM rows) instead of the tiled shader. */
  int gemm_lanes;
  uint32_t lanes_wg; /* its work-group size: one subgroup */
  uint32_t max_groups[3];
  gs_bcounters cnt; /* dispatches submitted, fence waits that blocked, bytes copied */
  /* GESSL_PROFILE: programs time each dispatch with timestamp queries and every run waits for
   * its results; ts_period is nanoseconds per tick (0: the queue has no timestamps). */
  int profile;
  double ts_period;
  /* The profile waited for a run before the host asked for a result: the host's next wait,
   * which then finds the work done, counts as the one it would have been. */
  int wait_owed;
  /* A fence wait timed out (vk_queue.c): later waits fail at once. */
  int lost;
  double lost_after; /* ... that timeout, in seconds */
  int hang_next;     /* GESSL_FAULT=hang: the next submission is not made, its fence never set */
  int hung;          /* ... and it was */
};

/* One compute dispatch of a compiled launch. */
typedef struct vkb_dispatch {
  vkb_pipe pipe;
  /* Specialization constants 1 and 2 of the pipeline: the mode words a shader branches on (its
   * opcode, unary function, reduction kind), so that a CPU driver, which runs both sides of
   * every branch under a mask, compiles only the one taken. */
  uint32_t spec[2];
  gs_opcode op; /* for the profile */
  uint32_t pc[VKB_PC_WORDS];
  gs_bbuf *bind[VKB_BINDINGS]; /* NULL: unused, the output buffer is bound there */
  uint32_t groups[3];
} vkb_dispatch;

/* vk_instance.c: the context (gs_backend: the instance, the device list, the validation hook). */
gs_status vkb_create(const gs_backend_host *host, gs_backend **out);
void vkb_destroy(gs_backend *be);
/* Leaves the instance alive at vkb_destroy: a device of it was left alive (see vkb_close). */
void vkb_keep_instance(gs_backend *be);
gs_status vkb_probe(gs_backend *be, int *n, char *why, size_t why_len);
gs_status vkb_device_info(gs_backend *be, int index, gs_device_info *info);
gs_status vkb_physical(gs_backend *be, int index, VkPhysicalDevice *out);
/* Fails with the first validation message when the validation layer reported an error since the
 * last call (only when GESSL_VULKAN_VALIDATION=1). */
gs_status vkb_validation_check(gs_backend *be, const char *where);
const char *vkb_result_str(VkResult r);
gs_status vkb_vkfail(const gs_backend *be, const char *what, VkResult r);
/* The host table the context was made with. */
const gs_backend_host *vkb_host(const gs_backend *be);

/* vk_device.c */
gs_status vkb_open(gs_backend *be, int index, gs_bdev **out);
void vkb_close(gs_bdev *d);

/* vk_queue.c: submission serials, host waits, staged writes, deferred destruction. */
/* Submits the open transfer batch, if any, then cmd (may be NULL); *serial (may be NULL) gets
 * the serial that covers both. Waits only when VKB_RING submissions are in flight. */
gs_status vkb_submit(gs_bdev *d, VkCommandBuffer cmd, uint64_t *serial);
/* Learns without waiting which submissions are complete. */
void vkb_poll(gs_bdev *d);
gs_status vkb_wait_serial(gs_bdev *d, uint64_t serial);
/* Waits for all submitted work; vkb_wait_all also reports pending validation errors, which
 * vkb_wait_idle leaves for the next call that can return them. */
gs_status vkb_wait_idle(gs_bdev *d);
gs_status vkb_wait_all(gs_bdev *d);
/* 1 when nothing is queued or in flight, learnt without waiting. */
int vkb_idle(gs_bdev *d);
/* Queues a host write as a staged copy, in order with earlier and later submissions. */
gs_status vkb_stage_write(gs_bdev *d, gs_bbuf *b, size_t off, const void *src, size_t bytes);
/* Runs destroy(d, obj) once submission `serial` is complete (now if it is). */
gs_status vkb_defer(gs_bdev *d, void (*destroy)(gs_bdev *, void *), void *obj, uint64_t serial);
/* The barrier every submitted command buffer starts with: earlier writes before dst. */
void vkb_barrier_in(VkCommandBuffer cmd, VkPipelineStageFlags dst, VkAccessFlags dst_access);
/* Waits for everything and destroys the queue's objects (device close). */
void vkb_queue_destroy(gs_bdev *d);
/* 1 when this occurrence of fault f is the one GESSL_FAULT injects. */
int vkb_fault(const gs_bdev *d, gs_fault f);

/* vk_memory.c */
/* Memory of the first type the buffer accepts that has all of `want`. */
gs_status vkb_buffer_create(gs_bdev *d, VkDeviceSize bytes, VkMemoryPropertyFlags want, int map,
                            const char *what, gs_bbuf *b);
void vkb_buffer_destroy(gs_bdev *d, gs_bbuf *b);
gs_status vkb_buf_alloc(gs_bdev *d, size_t bytes, gs_bbuf **out);
void vkb_buf_free(gs_bdev *d, gs_bbuf *b);
gs_status vkb_buf_write(gs_bdev *d, gs_bbuf *b, size_t off, const void *src, size_t bytes);
gs_status vkb_buf_read(gs_bdev *d, gs_bbuf *b, size_t off, void *dst, size_t bytes);
void vkb_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                 VkPipelineStageFlags dst, VkAccessFlags dst_access);

/* vk_pipelines.c: shader modules and pipelines, created on first use; the pipeline cache. */
gs_status vkb_layouts_create(gs_bdev *d);
gs_status vkb_pipeline(gs_bdev *d, vkb_pipe p, const uint32_t spec[2], VkPipeline *out);
void vkb_cache_load(gs_bdev *d);
void vkb_cache_save(gs_bdev *d);
void vkb_pipelines_destroy(gs_bdev *d);

/* vk_launch.c: turns a launch into a dispatch (pipeline, push constants, bindings, groups). */
/* Whether GEMM pipeline p runs gemm_lanes.comp on this device. */
int vkb_gemm_lanes(const gs_bdev *d, vkb_pipe p);
int vkb_supports(gs_bdev *d, const gs_launch *l);
/* *has is set to 0 when the launch needs no dispatch (NOP, empty tensors). */
gs_status vkb_plan(gs_bdev *d, const gs_launch *l, vkb_dispatch *out, int *has);

/* vk_program.c */
gs_status vkb_prog_compile(gs_bdev *d, const gs_launch *ls, size_t n, gs_bprog **out);
gs_status vkb_prog_run(gs_bdev *d, gs_bprog *p);
void vkb_prog_free(gs_bdev *d, gs_bprog *p);

#endif
