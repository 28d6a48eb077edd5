/* Liveness-based offset assignment: largest values first, each into the tightest gap among the
 * values it is alive with (best fit), so long-lived big tensors settle at the bottom and short
 * temporaries fill the holes between them. Quadratic in the number of values, which for the
 * graphs we build (thousands of nodes) is milliseconds, paid once at compile time. */
#include "plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena {
  int *placed; /* item indices sorted by offset */
  int n, cap;
  size_t size;
} arena;

static int by_size_desc(const void *a, const void *b, void *ctx) {
  const rt_plan_item *items = ctx;
  const rt_plan_item *x = &items[*(const int *)a], *y = &items[*(const int *)b];
  if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Best-fit offset for item `it` in arena `ar`, or SIZE_MAX if it does not fit under cap. */
static size_t find_offset(const arena *ar, const rt_plan_item *items, const rt_plan_item *it,
                          size_t size, size_t cap, size_t align) {
  size_t cur = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
  for (int k = 0; k < ar->n; k++) {
    const rt_plan_item *p = &items[ar->placed[k]];
    if (p->last < it->first || p->first > it->last) continue; /* never alive together */
    if (p->off > cur && p->off - cur >= size && p->off - cur < best_gap) {
      best_gap = p->off - cur;
      best = cur;
    }
    size_t end = align_up(p->off + p->bytes, align);
    if (end > cur) cur = end;
  }
  if (best != SIZE_MAX) return best;
  if (cap && (cur > cap || size > cap - cur)) return SIZE_MAX;
  return cur;
}

static int arena_insert(arena *ar, const rt_plan_item *items, int idx) {
  if (ar->n == ar->cap) {
    int cap = ar->cap ? 2 * ar->cap : 64;
    int *v = realloc(ar->placed, (size_t)cap * sizeof *v);
    if (!v) return -1;
    ar->placed = v;
    ar->cap = cap;
  }
  int at = ar->n;
  while (at > 0 && items[ar->placed[at - 1]].off > items[idx].off) at--;
  memmove(ar->placed + at + 1, ar->placed + at, (size_t)(ar->n - at) * sizeof *ar->placed);
  ar->placed[at] = idx;
  ar->n++;
  return 0;
}

gs_status rt_plan(rt_plan_item *items, int n, size_t cap, size_t align, const char *where,
                  size_t **sizes, int *n_arenas) {
  *sizes = NULL;
  *n_arenas = 0;
  if (align == 0) align = 1;
  int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
  arena *ars = NULL;
  int na = 0;
  gs_status st = GS_OK;
  if (!order) return gs_fail(GS_ERR_NOMEM, "memory plan: out of memory");
  for (int k = 0; k < n; k++) {
    order[k] = k;
    if (cap && items[k].bytes > cap) {
      st = gs_fail(GS_ERR_NOMEM,
                   "memory plan: a tensor of %zu bytes exceeds the largest single allocation of "
                   "%s (%zu bytes)",
                   items[k].bytes, where, cap);
      goto done;
    }
  }
  qsort_r(order, (size_t)n, sizeof *order, by_size_desc, items);
  for (int k = 0; k < n; k++) {
    rt_plan_item *it = &items[order[k]];
    size_t size = align_up(it->bytes ? it->bytes : 1, align);
    if (cap && size > cap) size = it->bytes; /* alignment padding is not needed at the end */
    int a;
    size_t off = SIZE_MAX;
    for (a = 0; a < na; a++)
      if ((off = find_offset(&ars[a], items, it, size, cap, align)) != SIZE_MAX) break;
    if (a == na) {
      arena *v = realloc(ars, (size_t)(na + 1) * sizeof *v);
      if (!v) {
        st = gs_fail(GS_ERR_NOMEM, "memory plan: out of memory");
        goto done;
      }
      ars = v;
      memset(&ars[na++], 0, sizeof *ars);
      off = 0;
    }
    it->arena = a;
    it->off = off;
    if (arena_insert(&ars[a], items, order[k]) != 0) {
      st = gs_fail(GS_ERR_NOMEM, "memory plan: out of memory");
      goto done;
    }
    if (off + it->bytes > ars[a].size) ars[a].size = off + it->bytes;
  }
  if (na) {
    *sizes = malloc((size_t)na * sizeof **sizes);
    if (!*sizes) {
      st = gs_fail(GS_ERR_NOMEM, "memory plan: out of memory");
      goto done;
    }
    for (int a = 0; a < na; a++) (*sizes)[a] = ars[a].size;
    *n_arenas = na;
  }
done:
  for (int a = 0; a < na; a++) free(ars[a].placed);
  free(ars);
  free(order);
  return st;
}
