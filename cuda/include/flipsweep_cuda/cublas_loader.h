#pragma once
// cuBLAS is opened with dlopen when flipsweep first calls it (cuda/src/cublas_loader.cpp), not
// linked: loading libcublas at start-up ran libcublasLt's static initializers, 0.3-0.5 s of
// every flipsweep command and every test process, GPU or not.
#include <string>

namespace flipsweep::cuda {

// Opens cuBLAS now if it is not open yet; true when it is open and every function flipsweep
// calls was found. Otherwise `problem` (when given) says which file or function is missing.
bool cublas_loaded(std::string* problem = nullptr);

}  // namespace flipsweep::cuda
