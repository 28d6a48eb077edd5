/* Which vector ISA the processor has (CPUID) against which kernels OpenBLAS chose for it.
 *
 * OpenBLAS built with DYNAMIC_ARCH picks its kernels by processor model; a model it does not know
 * (a new CPU, or one a hypervisor disguises) gets its generic SSE3 "Prescott" kernels, a fraction
 * of what an AVX2 or AVX-512 machine does. That must never go unnoticed: the device description
 * says so, opening the device warns, and the backend's GEMMs go through oneDNN instead (which
 * selects its kernels from the feature flags themselves) when it is there. OPENBLAS_CORETYPE is
 * read by OpenBLAS when it loads, so the backend never changes it. */
#include "cpu_internal.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifdef GESSL_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

enum { ISA_SSE = 0, ISA_AVX, ISA_AVX2, ISA_AVX512 };
static const char *const isa_names[] = {"SSE", "AVX", "AVX2", "AVX-512"};

static int cpu_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
  if (__builtin_cpu_supports("avx")) return ISA_AVX;
#endif
  return ISA_SSE;
}

/* The widest ISA an OpenBLAS x86 core's kernels use; -1 for a core this table does not know
 * (another architecture, a newer OpenBLAS): then nothing is claimed. */
static int core_isa(const char *core) {
  static const struct {
    const char *name;
    int isa;
  } t[] = {
      {"Prescott", ISA_SSE},
      {"Core2", ISA_SSE},
      {"Penryn", ISA_SSE},
      {"Dunnington", ISA_SSE},
      {"Nehalem", ISA_SSE},
      {"Atom", ISA_SSE},
      {"Opteron", ISA_SSE},
      {"Opteron_SSE3", ISA_SSE},
      {"Barcelona", ISA_SSE},
      {"Bobcat", ISA_SSE},
      {"Katmai", ISA_SSE},
      {"Coppermine", ISA_SSE},
      {"Northwood", ISA_SSE},
      {"Banias", ISA_SSE},
      {"Athlon", ISA_SSE},
      {"Sandybridge", ISA_AVX},
      {"Bulldozer", ISA_AVX},
      {"Piledriver", ISA_AVX},
      {"Steamroller", ISA_AVX},
      {"Haswell", ISA_AVX2},
      {"Zen", ISA_AVX2},
      {"Excavator", ISA_AVX2},
      {"SkylakeX", ISA_AVX512},
      {"Cooperlake", ISA_AVX512},
      {"Sapphirerapids", ISA_AVX512},
  };
  for (size_t k = 0; k < sizeof t / sizeof *t; k++)
    if (strcasecmp(core, t[k].name) == 0) return t[k].isa;
  return -1;
}

int cpu_blas_weak(void) {
  int have = cpu_isa();
  if (have < ISA_AVX2) return 0;
  int used = core_isa(openblas_get_corename());
  /* AVX2 kernels on an AVX-512 machine run at about half its peak but are not the trap this
   * guards against; anything below AVX2 on an AVX2 machine is. */
  return used >= 0 && used < ISA_AVX2;
}

void cpu_isa_note(char *out, size_t len) {
  int have = cpu_isa(), used = core_isa(openblas_get_corename());
  const char *core = openblas_get_corename();
  if (used < 0 || used >= have) {
    snprintf(out, len, "%s", "");
    return;
  }
  if (cpu_blas_weak()) {
#ifdef GESSL_HAVE_DNNL
    snprintf(out, len,
             "OpenBLAS chose its %s core (%s kernels) on this %s CPU: GEMMs run through oneDNN "
             "instead",
             core, isa_names[used], isa_names[have]);
#else
    snprintf(out, len,
             "OpenBLAS chose its %s core (%s kernels) on this %s CPU: expect a fraction of its "
             "speed (OPENBLAS_CORETYPE=%s picks better kernels)",
             core, isa_names[used], isa_names[have], have >= ISA_AVX512 ? "SkylakeX" : "Haswell");
#endif
    return;
  }
  snprintf(out, len, "OpenBLAS core %s runs %s kernels on this %s CPU", core, isa_names[used],
           isa_names[have]);
}

void cpu_isa_describe(char *out, size_t len) {
  int have = cpu_isa();
#ifdef GESSL_HAVE_DNNL
  const dnnl_version_t *v = dnnl_version();
  static const struct {
    dnnl_cpu_isa_t isa;
    const char *name;
  } k[] = {{dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
           {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
           {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
           {dnnl_cpu_isa_avx512_core, "avx512_core"},
           {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
           {dnnl_cpu_isa_avx2, "avx2"},
           {dnnl_cpu_isa_avx, "avx"},
           {dnnl_cpu_isa_sse41, "sse41"}};
  dnnl_cpu_isa_t got = dnnl_get_effective_cpu_isa();
  const char *name = "other";
  for (size_t j = 0; j < sizeof k / sizeof *k; j++)
    if (got == k[j].isa) name = k[j].name;
  snprintf(out, len, "%s; oneDNN %d.%d.%d (%s)", isa_names[have], v->major, v->minor, v->patch,
           name);
#else
  snprintf(out, len, "%s", isa_names[have]);
#endif
}
