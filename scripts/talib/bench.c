/*
 * Times TA-Lib's C functions called directly on double arrays, for `npm run bench` (bench/signals.ts).
 *
 * Usage: bench BARS.f64 [REPS] [NAME...] > times.json
 * BARS.f64 holds five float64 columns one after the other (open, high, low, close, volume), n values each, in
 * the machine's byte order; n = file size / 40. Every function in funcs.h (or only the NAMEs given) runs at
 * TA-Lib's default parameters over all n rows, REPS times (default 5), and the median is reported:
 *   {"rows": n, "reps": r, "ms": {"SMA": 1.23, ...}, "msFresh": {"SMA": 25.1, ...}}
 * ms times the call alone, writing into output arrays allocated and touched beforehand, the way C callers use
 * TA-Lib. msFresh also maps fresh output pages from the kernel for every call (mmap, unmapped after), which is
 * what a function returning new arrays pays; malloc cannot be used for that, as glibc hands the freed block
 * back on the next call
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "funcs.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BARS.f64 [REPS] [NAME...] > times.json\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  int n = (int)(bytes / 40);
  double *data = malloc((size_t)bytes);
  if (!data || fread(data, 1, (size_t)bytes, f) != (size_t)bytes) {
    fprintf(stderr, "%s: short read\n", argv[1]);
    return 1;
  }
  fclose(f);
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  if (reps < 1) reps = 1;
  Bars b = {data, data + n, data + 2 * (size_t)n, data + 3 * (size_t)n, data + 4 * (size_t)n, n};
  if (TA_Initialize() != TA_SUCCESS) return 1;

  double *times = malloc(sizeof(double) * reps);
  double *warm[MAX_OUTPUTS];
  for (int o = 0; o < MAX_OUTPUTS; o++) {
    warm[o] = malloc(sizeof(double) * (n ? n : 1));
    memset(warm[o], 0, sizeof(double) * n);
  }
  const size_t bytesOut = sizeof(double) * (n ? n : 1);
  printf("{\"rows\": %d, \"reps\": %d", n, reps);
  for (int fresh = 0; fresh < 2; fresh++) {
    int first = 1;
    printf(", \"%s\": {", fresh ? "msFresh" : "ms");
    for (int i = 0; i < NFUNCS; i++) {
      const FuncSpec *fs = &FUNCS[i];
      if (argc > 3) {
        int wanted = 0;
        for (int a = 3; a < argc; a++) wanted |= strcmp(argv[a], fs->name) == 0;
        if (!wanted) continue;
      }
      for (int r = 0; r < reps; r++) {
        double *out[MAX_OUTPUTS];
        int beg, nb;
        double t0 = now_ms();
        for (int o = 0; o < fs->noutputs; o++) {
          out[o] = fresh ? mmap(0, bytesOut, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : warm[o];
          if (out[o] == MAP_FAILED) {
            perror("mmap");
            return 1;
          }
        }
        TA_RetCode rc = call_func(fs->name, fs->defaults, &b, &beg, &nb, out);
        times[r] = now_ms() - t0;
        if (fresh)
          for (int o = 0; o < fs->noutputs; o++) munmap(out[o], bytesOut);
        if (rc != TA_SUCCESS) {
          fprintf(stderr, "TA_%s failed with code %d\n", fs->name, (int)rc);
          return 1;
        }
      }
      qsort(times, reps, sizeof(double), cmp);
      printf("%s\"%s\": %.4f", first ? "" : ", ", fs->name, times[reps / 2]);
      first = 0;
    }
    putchar('}');
  }
  puts("}");
  TA_Shutdown();
  return 0;
}
