/* gessl — files: durable writes, safetensors checkpoints, PNG plots.
 *
 * Durable writes: the bytes go to a temporary file in the target's directory, which is fsynced,
 * renamed over the target, and the directory fsynced. A crash or a failure at any point leaves
 * either the old file or the new one, never a mix; on failure the temporary file is removed.
 *
 * Safetensors: the format PyTorch and the `safetensors` package read and write. An 8-byte
 * little-endian header length N, N bytes of UTF-8 JSON (padded with spaces to a multiple of 8),
 * then the tensors' bytes back to back. The reader validates the header and every offset the way
 * the reference implementation does before any tensor data is touched, so a malformed or hostile
 * file is refused with a message naming the file and the fault.
 *
 * Plots: line charts in panels (loss, learning rate, accuracy per epoch...) written as PNG with
 * axes, numeric ticks, axis labels, a title and a legend per panel. */
#ifndef GESSL_IO_H
#define GESSL_IO_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Durable writes ---- */

typedef struct gs_durable gs_durable;

/* Creates the temporary file for `path` (in the same directory, permissions 0666 & ~umask).
 * NULL on failure (message names the path and the cause). Nothing is visible at `path` until
 * gs_durable_commit succeeds. */
GS_API gs_durable *gs_durable_open(const char *path);
/* Appends n bytes. After a failure the writer only accepts gs_durable_abort (or commit, which
 * then fails and cleans up). */
GS_API gs_status gs_durable_write(gs_durable *d, const void *buf, size_t n);
/* Writes n bytes at byte `offset` of the temporary file (gaps read as zeros), leaving the append
 * position alone: threads may fill disjoint parts of one file at once. */
GS_API gs_status gs_durable_write_at(gs_durable *d, const void *buf, size_t n, uint64_t offset);
/* fsync, rename over the target, fsync the directory; frees d whatever the outcome. On failure
 * before the rename the temporary file is removed and the old target is untouched. */
GS_API gs_status gs_durable_commit(gs_durable *d);
/* Removes the temporary file and frees d; the target is untouched. NULL is a no-op. */
GS_API void gs_durable_abort(gs_durable *d);
/* The whole buffer in one call: open, write, commit. */
GS_API gs_status gs_write_file_durable(const char *path, const void *buf, size_t n);

/* ---- Whole-file reads ---- */

/* Reads a regular file of at most max_len bytes into a new buffer (caller frees), followed by a
 * NUL byte so text can be parsed in place; *len excludes the NUL. Errors name the file. */
GS_API gs_status gs_read_file(const char *path, size_t max_len, uint8_t **out, size_t *len);

/* ---- Safetensors ---- */

/* One tensor to write. data holds numel(shape) elements of 4 bytes, little-endian, row-major. */
typedef struct gs_st_tensor {
  const char *name; /* unique, non-empty, valid UTF-8, not "__metadata__" */
  gs_dtype dtype;   /* GS_F32 -> "F32", GS_I32 -> "I32" */
  gs_shape shape;
  const void *data;
} gs_st_tensor;

/* One entry of the file's `__metadata__` map (strings only, as the format requires). */
typedef struct gs_st_kv {
  const char *key;
  const char *value;
} gs_st_kv;

/* Writes the tensors in the given order (offsets follow that order) and the metadata (n_meta may
 * be 0, meta NULL) to `path`, durably. Fails with GS_ERR_INVALID naming the tensor for a bad
 * name, a duplicate, a negative dimension or NULL data. */
GS_API gs_status gs_st_write(const char *path, const gs_st_tensor *tensors, int n,
                             const gs_st_kv *meta, int n_meta);

typedef struct gs_safetensors gs_safetensors;

/* Opens and validates a file; the data is read into memory. NULL on failure with a message
 * "PATH: what is wrong" (GS_ERR_IO for read errors, GS_ERR_FORMAT for a malformed file). */
GS_API gs_safetensors *gs_st_open(const char *path);
/* The same checks on bytes in memory (copied; buf need not outlive the call). `name` is used in
 * messages (NULL: "<memory>"). */
GS_API gs_safetensors *gs_st_parse_bytes(const void *buf, size_t len, const char *name);
GS_API void gs_st_close(gs_safetensors *st);

/* Tensors are indexed 0..count-1 in file order (ascending offsets). */
GS_API int gs_st_count(const gs_safetensors *st);
/* Index of the tensor called `name`, or -1. */
GS_API int gs_st_find(const gs_safetensors *st, const char *name);
GS_API const char *gs_st_name(const gs_safetensors *st, int i);
/* The dtype string as written in the file ("F32", "BF16", "I64", ...). */
GS_API const char *gs_st_dtype_str(const gs_safetensors *st, int i);
/* GS_OK and *dt for F32 and I32; GS_ERR_UNSUPPORTED (message names the tensor) otherwise. */
GS_API gs_status gs_st_dtype(const gs_safetensors *st, int i, gs_dtype *dt);
/* Shape (files with rank > GS_MAX_RANK are refused at open). */
GS_API gs_shape gs_st_shape(const gs_safetensors *st, int i);
/* The tensor's raw bytes (little-endian, possibly not 4-byte aligned) and their count. Valid
 * until gs_st_close. */
GS_API const void *gs_st_data(const gs_safetensors *st, int i, size_t *nbytes);
/* Copies tensor i into dst, checking that it is F32 or I32 (as `dtype`) with exactly `numel`
 * elements; a mismatch is GS_ERR_SHAPE / GS_ERR_FORMAT naming the file, the tensor, and both
 * sides. */
GS_API gs_status gs_st_read(const gs_safetensors *st, int i, gs_dtype dtype, void *dst,
                            int64_t numel);

/* `__metadata__`: number of entries, entry i, and lookup (NULL when absent). */
GS_API int gs_st_meta_count(const gs_safetensors *st);
GS_API gs_st_kv gs_st_meta_at(const gs_safetensors *st, int i);
GS_API const char *gs_st_meta(const gs_safetensors *st, const char *key);

/* ---- Plots ---- */

/* One line: n points (x[i], y[i]). Non-finite y values leave a gap in the line. */
typedef struct gs_plot_series {
  const char *name; /* legend text; NULL or "" keeps it out of the legend */
  const double *x;
  const double *y;
  int n;
} gs_plot_series;

/* One chart: its series share the axes. */
typedef struct gs_plot_panel {
  const char *title;
  const char *xlabel;
  const char *ylabel;
  const gs_plot_series *series;
  int n_series;
  int log_y; /* 1: logarithmic y axis (positive values only; others are skipped) */
} gs_plot_panel;

typedef struct gs_plot_options {
  int width, height; /* whole image in pixels; 0 = 640 per column x 400 per row */
  int columns;       /* panels per row; 0 = 1 for one panel, else 2 */
  const char *title; /* drawn above all panels; NULL for none */
} gs_plot_options;

/* Draws the panels in a grid and writes the PNG to `path` durably. A panel with no finite point
 * is drawn with empty axes. NULL opt = defaults. */
GS_API gs_status gs_plot_png(const char *path, const gs_plot_panel *panels, int n_panels,
                             const gs_plot_options *opt);

#ifdef __cplusplus
}
#endif
#endif
