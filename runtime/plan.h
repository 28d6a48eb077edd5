/* The memory planner: offsets for intermediate values whose lifetimes are known, so values that
 * are never alive at the same time share bytes. Internal (runtime/plan.c). */
#ifndef GESSL_PLAN_H
#define GESSL_PLAN_H

#include <stddef.h>

#include "gessl/types.h"

typedef struct rt_plan_item {
  size_t bytes;    /* size of the value */
  int first, last; /* launch indices of its first write and last read, inclusive */
  int arena;       /* result: which arena buffer */
  size_t off;      /* result: byte offset in it, a multiple of the alignment */
} rt_plan_item;

/* Places items[0..n) into arenas of at most `cap` bytes each (0: one unbounded arena), every
 * offset a multiple of `align`, so that items whose [first, last] intervals overlap never share
 * a byte. *sizes (malloc'd, caller frees) gets each arena's size, *n_arenas their count. An item
 * larger than cap fails with GS_ERR_NOMEM naming its size and `where`. */
gs_status rt_plan(rt_plan_item *items, int n, size_t cap, size_t align, const char *where,
                  size_t **sizes, int *n_arenas);

#endif
