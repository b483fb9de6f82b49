#pragma once
// FLIPSWEEP_HD marks numerics that both backends compile: plain inline functions under g++,
// __host__ __device__ under nvcc.
#if defined(__CUDACC__)
#define FLIPSWEEP_HD __host__ __device__ inline
#else
#define FLIPSWEEP_HD inline
#endif
