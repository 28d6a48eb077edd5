/* Learning-rate and momentum schedules: plain functions of the step, evaluated on the host and
 * fed as [1] tensors, so a schedule never forces a recompile. */
#include <math.h>

#include "gessl/optim.h"

#define PI 3.14159265358979323846

float gs_lr_warmup_cosine(int64_t step, int64_t total, int64_t warmup, float base, float final_lr) {
  if (step < 0) step = 0;
  if (warmup > 0 && step < warmup) return base * (float)((double)step / (double)warmup);
  int64_t span = total - (warmup > 0 ? warmup : 0);
  if (span <= 0) return base;
  double p = (double)(step - (warmup > 0 ? warmup : 0)) / (double)span;
  if (p > 1) p = 1;
  return (float)(final_lr + 0.5 * (base - final_lr) * (1 + cos(PI * p)));
}

float gs_cosine_ramp(int64_t step, int64_t total, float start, float end) {
  if (total <= 0) return end;
  double p = (double)step / (double)total;
  if (p < 0) p = 0;
  if (p > 1) p = 1;
  return (float)(end - (end - start) * 0.5 * (1 + cos(PI * p)));
}
