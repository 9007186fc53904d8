/* cpu_clones.h -- CLONES: compile a hot loop for AVX-512, AVX2 and baseline x86-64, chosen at load.
**
** The machines vary (AVX-512 on some, not on others), and the binary must
** run on any x86-64; gcc's target_clones builds each marked function three
** times and picks one per CPU when the program loads.
*/
#ifndef CURATE_CPU_CLONES_H
#define CURATE_CPU_CLONES_H

#ifdef __clang__
/* clang 14 (the libFuzzer build's compiler) accepts gcc's arch= clones but
** emits no symbol for them; the fuzz build does not need the speed. */
#define CLONES
#else
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

#endif
