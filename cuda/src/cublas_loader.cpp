// The cuBLAS functions flipsweep calls, defined here with cuBLAS's own prototypes (a signature that
// differs from cublas_api.h does not compile) and forwarded to the library, which is opened on the
// first call. Why: flipsweep_cuda/cublas_loader.h. Without the library every call returns
// CUBLAS_STATUS_NOT_INITIALIZED and the status text names what could not be loaded.
#include "flipsweep_cuda/cublas_loader.h"

#include <cublas_v2.h>
#include <dlfcn.h>

#include <string>

namespace {

struct OpenedCublas {
  void* library = nullptr;
  std::string problem;  // why it is not open
};

const OpenedCublas& opened_cublas() {
  static const OpenedCublas opened = [] {
    OpenedCublas o;
    // The soname through the executable's run path and the system's, then the toolkit's copy
    // that the build found.
    for (const char* name : {FLIPSWEEP_CUBLAS_SONAME, FLIPSWEEP_CUBLAS_PATH}) {
      o.library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (o.library) return o;
      const char* why = dlerror();
      o.problem += std::string(o.problem.empty() ? "" : "; ") + (why ? why : name);
    }
    o.problem = "cannot load cuBLAS: " + o.problem;
    return o;
  }();
  return opened;
}

template <typename Function>
Function cublas_function(const char* name) {
  const OpenedCublas& o = opened_cublas();
  return o.library ? reinterpret_cast<Function>(dlsym(o.library, name)) : nullptr;
}

// The functions below, by name, for cublas_loaded().
constexpr const char* kFunctions[] = {"cublasCreate_v2",     "cublasDestroy_v2",  "cublasSetStream_v2",
                                      "cublasGetStream_v2",  "cublasSetMathMode", "cublasGetMathMode",
                                      "cublasSgemm_v2",      "cublasGetStatusName", "cublasGetStatusString"};

}  // namespace

namespace flipsweep::cuda {

bool cublas_loaded(std::string* problem) {
  const OpenedCublas& o = opened_cublas();
  std::string missing = o.problem;
  if (o.library)
    for (const char* name : kFunctions)
      if (!dlsym(o.library, name)) missing += std::string(missing.empty() ? "cuBLAS has no " : ", ") + name;
  if (problem) *problem = missing;
  return missing.empty();
}

}  // namespace flipsweep::cuda

#define FLIPSWEEP_FORWARD_TO_CUBLAS(name, ...)                                       \
  static const auto forward = cublas_function<decltype(&name)>(#name);              \
  return forward ? forward(__VA_ARGS__) : CUBLAS_STATUS_NOT_INITIALIZED

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasCreate_v2, handle);
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasDestroy_v2, handle);
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasSetStream_v2, handle, stream);
}

cublasStatus_t CUBLASWINAPI cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasGetStream_v2, handle, stream);
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasSetMathMode, handle, mode);
}

cublasStatus_t CUBLASWINAPI cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasGetMathMode, handle, mode);
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const float* alpha, const float* A, int lda,
                                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  FLIPSWEEP_FORWARD_TO_CUBLAS(cublasSgemm_v2, handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) {
  static const auto forward = cublas_function<decltype(&cublasGetStatusName)>("cublasGetStatusName");
  return forward ? forward(status) : "CUBLAS_NOT_LOADED";
}

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  static const auto forward = cublas_function<decltype(&cublasGetStatusString)>("cublasGetStatusString");
  if (forward) return forward(status);
  const std::string& problem = opened_cublas().problem;
  return problem.empty() ? "(this cuBLAS has no cublasGetStatusString)" : problem.c_str();
}

}  // extern "C"
