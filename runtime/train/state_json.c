/* Reading DIR/state.json against the checkpoint beside it. The checkpoint's metadata is the
 * authority; state.json must describe the same step, or an older one (or be missing) when the
 * metadata holds every counter: what a crash between the checkpoint's rename and state.json's
 * leaves. Text in, counters out, so the parser can be fuzzed alone. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>

#include "train_impl.h"

gs_status train_state_parse(const char *text, size_t len, const char *spath, const char *ckpt,
                            int64_t step, int in_meta, train_state *out) {
  cJSON *js = text ? cJSON_ParseWithLength(text, len) : NULL;
  const cJSON *jstep = cJSON_GetObjectItemCaseSensitive(js, "step");
  const cJSON *jel = cJSON_GetObjectItemCaseSensitive(js, "elapsed_s");
  const cJSON *jes = cJSON_GetObjectItemCaseSensitive(js, "epoch_loss_sum");
  const cJSON *jen = cJSON_GetObjectItemCaseSensitive(js, "epoch_loss_steps");
  gs_status st = GS_OK;
  /* A step that is no integer (NaN, 1e300) is no step: casting it would be undefined. */
  if (!cJSON_IsObject(js) || !cJSON_IsNumber(jstep) || !(fabs(jstep->valuedouble) < 9e15))
    st = gs_fail(GS_ERR_FORMAT, "%s: not a gessl state file (no step)", spath);
  else if ((int64_t)jstep->valuedouble < step && in_meta)
    out->stale = 1;
  else if ((int64_t)jstep->valuedouble != step)
    st = gs_fail(GS_ERR_FORMAT, "%s: step %lld, but %s holds step %" PRId64, spath,
                 (long long)jstep->valuedouble, ckpt, step);
  else if (!in_meta) {
    if (cJSON_IsNumber(jel) && isfinite(jel->valuedouble)) out->elapsed = jel->valuedouble;
    if (cJSON_IsNumber(jes) && cJSON_IsNumber(jen) && isfinite(jes->valuedouble) &&
        jen->valuedouble >= 0 && jen->valuedouble < 9e15) {
      out->loss_sum = jes->valuedouble;
      out->loss_steps = (int64_t)jen->valuedouble;
    }
  }
  cJSON_Delete(js);
  return st;
}
