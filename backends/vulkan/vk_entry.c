/* The plugin's one exported symbol and its function table. */
#include "vk_internal.h"

static gs_status sync_dev(gs_bdev *d) { return vkb_wait_all(d); }

static void counters(gs_bdev *d, gs_bcounters *out) { *out = d->cnt; }

static const gs_backend_iface iface = {
    .abi_version = GS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(gs_backend_iface),
    .name = "vulkan",
    .version = "0.1 (Vulkan 1.1, GLSL compute)",
    .create = vkb_create,
    .destroy = vkb_destroy,
    .probe = vkb_probe,
    .device_info = vkb_device_info,
    .open = vkb_open,
    .close = vkb_close,
    .supports = vkb_supports,
    .buf_alloc = vkb_buf_alloc,
    .buf_free = vkb_buf_free,
    .buf_write = vkb_buf_write,
    .buf_read = vkb_buf_read,
    .prog_compile = vkb_prog_compile,
    .prog_run = vkb_prog_run,
    .prog_free = vkb_prog_free,
    .sync = sync_dev,
    .counters = counters,
};

GS_API const gs_backend_iface *gessl_backend_entry(void) { return &iface; }
