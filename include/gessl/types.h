/* gessl — basic types shared by every public header and every plugin ABI.
 *
 * Errors are values: every fallible call returns a gs_status (or NULL for constructors), and the
 * human-readable reason is kept per thread and read with gs_errmsg(), the way dlerror() works.
 * Library code never exits or aborts. */
#ifndef GESSL_TYPES_H
#define GESSL_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GS_API __attribute__((visibility("default")))
#define GS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GS_API
#define GS_PRINTF(f, a)
#endif

typedef enum gs_status {
  GS_OK = 0,
  GS_ERR_INVALID = 1,     /* bad argument, bad flag value, malformed input */
  GS_ERR_SHAPE = 2,       /* shapes that do not fit an op */
  GS_ERR_NOMEM = 3,       /* host or device allocation failed */
  GS_ERR_IO = 4,          /* a file could not be read or written */
  GS_ERR_FORMAT = 5,      /* a file is corrupt or not of the expected format */
  GS_ERR_PLUGIN = 6,      /* a plugin could not be loaded or refused to start */
  GS_ERR_UNAVAILABLE = 7, /* a backend or device is not present on this machine */
  GS_ERR_UNSUPPORTED = 8, /* a backend does not run an op, or a feature is missing */
  GS_ERR_BACKEND = 9,     /* a driver call failed */
  GS_ERR_NUMERIC = 10,    /* NaN or Inf where a finite value is required */
  GS_ERR_INTERRUPTED = 11 /* stopped on request (Ctrl-C) */
} gs_status;

/* Message of the last failure on the calling thread ("" if none). Valid until the next failing
 * gessl call on this thread. */
GS_API const char *gs_errmsg(void);
/* Records a failure whose message is "<context>: <the current message>", for a caller that adds
 * what it was doing to the reason a callee gave, e.g. gs_fail_context(st, "byol: projector"). */
GS_API gs_status gs_fail_context(gs_status s, const char *fmt, ...) GS_PRINTF(2, 3);
/* Short name of a status code, e.g. "shape error". */
GS_API const char *gs_status_name(gs_status s);
/* Records a failure on the calling thread and returns `s`, so callers can write
 * `return gs_fail(GS_ERR_IO, "cannot open %s: %s", path, strerror(errno));`. */
GS_API gs_status gs_fail(gs_status s, const char *fmt, ...) GS_PRINTF(2, 3);

/* Whether the plugin table t holds `member` and sets it: t->struct_size (the size of the table as
 * its author compiled it) reaches past the member, and the member is not NULL. Every plugin table
 * and every host table starts with abi_version and struct_size and only ever gains members at its
 * end (SQLite's iVersion rule), so a reader tests GS_HAS before using a member added after the
 * table's first version. Only for pointer members (functions, strings). */
#define GS_HAS(t, member)                                                                          \
  ((t)->struct_size >=                                                                             \
       (size_t)((const char *)&(t)->member - (const char *)(t)) + sizeof((t)->member) &&           \
   (t)->member != NULL)
/* The head of a table of type T at ABI version V, for a designated initializer:
 * gs_method_ctx ctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION), .dev = dev, ...}. */
#define GS_TABLE_HEAD(T, V) .abi_version = (V), .struct_size = (uint32_t)sizeof(T)

/* Element types. Every element is 4 bytes, so element offsets are the same for both. */
typedef enum gs_dtype { GS_F32 = 0, GS_I32 = 1 } gs_dtype;

#define GS_MAX_RANK 6

/* A dense row-major shape. rank 0 is a scalar of one element. */
typedef struct gs_shape {
  int32_t rank;
  int64_t dim[GS_MAX_RANK];
} gs_shape;

/* GS_SHAPE(2, 3) is the shape [2, 3]. */
#define GS_NARGS_(...) GS_NARGS_I_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define GS_NARGS_I_(a, b, c, d, e, f, n, ...) n
#define GS_SHAPE(...) ((gs_shape){GS_NARGS_(__VA_ARGS__), {__VA_ARGS__}})

/* Number of elements of a shape (1 for rank 0). */
static inline int64_t gs_shape_numel(const gs_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->dim[i];
  return n;
}

/* 1 when a and b have the same rank and dims, else 0. */
GS_API int gs_shape_eq(const gs_shape *a, const gs_shape *b);
/* Writes "[2, 3, 4]" into buf; returns buf. */
GS_API char *gs_shape_str(const gs_shape *s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
