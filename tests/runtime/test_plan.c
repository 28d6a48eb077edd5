/* The memory planner alone: values alive together never share bytes, values that are not
 * reuse them, offsets are aligned, and a cap splits the plan into several arenas. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan.h"

static int overlap_ok(const rt_plan_item *it, int n) {
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++) {
      const rt_plan_item *x = &it[a], *y = &it[b];
      if (x->arena != y->arena || x->last < y->first || y->last < x->first) continue;
      if (x->off < y->off + y->bytes && y->off < x->off + x->bytes) return 0;
    }
  return 1;
}

int main(void) {
  /* A chain: value k is written by launch k and read by launch k+1. */
  rt_plan_item chain[8];
  size_t naive = 0;
  for (int k = 0; k < 8; k++) {
    chain[k] = (rt_plan_item){1000 + 100 * (size_t)k, k, k + 1, 0, 0};
    naive += chain[k].bytes;
  }
  size_t *sizes = NULL;
  int na = 0;
  CHECK(rt_plan(chain, 8, 0, 256, "test", &sizes, &na) == GS_OK);
  CHECK(na == 1);
  CHECK(overlap_ok(chain, 8));
  for (int k = 0; k < 8; k++) CHECK(chain[k].off % 256 == 0);
  /* Only two neighbours are ever alive together. */
  CHECKF(sizes && sizes[0] < naive / 2, "peak %zu naive %zu", sizes ? sizes[0] : 0, naive);
  free(sizes);

  /* Everything alive at once: no sharing possible. */
  rt_plan_item all[5];
  for (int k = 0; k < 5; k++) all[k] = (rt_plan_item){512, 0, 4, 0, 0};
  CHECK(rt_plan(all, 5, 0, 256, "test", &sizes, &na) == GS_OK);
  CHECK(na == 1 && sizes[0] == 5 * 512 && overlap_ok(all, 5));
  free(sizes);

  /* A cap of 1024 bytes: two values per arena. */
  for (int k = 0; k < 5; k++) all[k] = (rt_plan_item){512, 0, 4, 0, 0};
  CHECK(rt_plan(all, 5, 1024, 256, "test", &sizes, &na) == GS_OK);
  CHECK(na == 3 && overlap_ok(all, 5));
  for (int a = 0; a < na; a++) CHECK(sizes[a] <= 1024);
  free(sizes);

  /* One value above the cap is refused with its size and the place named. */
  rt_plan_item big = {5000, 0, 0, 0, 0};
  CHECK(rt_plan(&big, 1, 4096, 256, "Test GPU", &sizes, &na) == GS_ERR_NOMEM);
  CHECK(strstr(gs_errmsg(), "5000 bytes") && strstr(gs_errmsg(), "Test GPU"));

  /* Random lifetimes and sizes never overlap. */
  srand(7);
  rt_plan_item r[300];
  for (int k = 0; k < 300; k++) {
    int f = rand() % 200;
    r[k] = (rt_plan_item){(size_t)(1 + rand() % 5000), f, f + rand() % 30, 0, 0};
  }
  CHECK(rt_plan(r, 300, 0, 256, "test", &sizes, &na) == GS_OK && overlap_ok(r, 300));
  free(sizes);
  CHECK(rt_plan(r, 300, 16384, 256, "test", &sizes, &na) == GS_OK && overlap_ok(r, 300));
  for (int a = 0; a < na; a++) CHECK(sizes[a] <= 16384);
  free(sizes);
  CHECK(rt_plan(NULL, 0, 0, 256, "test", &sizes, &na) == GS_OK && na == 0);
  return check_summary();
}
