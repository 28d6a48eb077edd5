/* Fuzz target for state.json as --resume reads it (train_state_parse): any bytes are refused
 * with a message or accepted with finite counters. The first byte picks the checkpoint's step
 * (0..63) and whether its metadata holds the counters; the rest is the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../runtime/train/train_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int64_t step = data[0] & 63;
  int in_meta = data[0] >> 7;
  train_state ts = {0, 1.5, 2.5, 3};
  gs_status st = train_state_parse((const char *)data + 1, size - 1, "state.json",
                                   "checkpoint.safetensors", step, in_meta, &ts);
  if (st != GS_OK) {
    if (!gs_errmsg()[0]) abort();
    return 0;
  }
  if (!isfinite(ts.elapsed) || !isfinite(ts.loss_sum) || ts.loss_steps < 0) abort();
  if (ts.stale && !in_meta) abort(); /* only a checkpoint with the counters may outrun state.json */
  return 0;
}
