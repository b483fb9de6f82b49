// The host runtime's dense calls (oneDNN sgemm) and the host-plan backend factory.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <dnnl.h>
#include <vector>

#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/batched/host_runtime.h"
#include "flipsweep/batched/plan_backend.h"
#include "flipsweep/error.h"
#include "flipsweep/kernels/host_launch.h"

namespace flipsweep {

namespace batched {

void HostRuntime::conv(const kernels::Conv2dGeometry& g, const float* x, const float* w, float* y) {
  const int64_t in_per_group = g.in_channels / g.group, out_per_group = g.out_channels / g.group;
  const int64_t taps = in_per_group * g.kernel_h * g.kernel_w;
  const int64_t pixels = g.out_h * g.out_w;
  std::string failure;
#pragma omp parallel num_threads(threads_)
  {
    std::vector<float> columns(static_cast<size_t>(taps * pixels));
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < g.batch; ++n) {
      for (int64_t group = 0; group < g.group; ++group) {
        const float* image = x + (n * g.in_channels + group * in_per_group) * g.in_h * g.in_w;
        for (int64_t c = 0; c < in_per_group; ++c)
          for (int64_t kh = 0; kh < g.kernel_h; ++kh)
            for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
              float* row = columns.data() + ((c * g.kernel_h + kh) * g.kernel_w + kw) * pixels;
              for (int64_t oh = 0; oh < g.out_h; ++oh) {
                const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
                for (int64_t ow = 0; ow < g.out_w; ++ow) {
                  const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
                  const bool inside = ih >= 0 && ih < g.in_h && iw >= 0 && iw < g.in_w;
                  row[oh * g.out_w + ow] = inside ? image[(c * g.in_h + ih) * g.in_w + iw] : 0.0f;
                }
              }
            }
        const float* weights = w + group * out_per_group * taps;
        float* out = y + (n * g.out_channels + group * out_per_group) * pixels;
        if (dnnl_sgemm('N', 'N', out_per_group, pixels, taps, 1.0f, weights, taps, columns.data(), pixels, 0.0f, out,
                       pixels) != dnnl_success) {
#pragma omp critical(flipsweep_host_runtime)
          failure = "oneDNN sgemm failed";
        }
      }
    }
  }
  if (!failure.empty()) throw Error(failure);
}

void HostRuntime::gemm(int64_t rows, int64_t k, int64_t m, bool weight_transposed, const float* x, const float* w, float* y) {
  if (rows == 0) return;
  if (dnnl_sgemm('N', weight_transposed ? 'T' : 'N', rows, m, k, 1.0f, x, k, w, weight_transposed ? k : m, 0.0f, y, m) !=
      dnnl_success)
    throw Error("oneDNN sgemm failed");
}

}  // namespace batched

std::unique_ptr<Backend> make_host_plan_backend(const Model& model, const BackendOptions& options) {
  const int slots = options.trials_in_flight > 0 ? options.trials_in_flight : 4;
  return std::make_unique<batched::PlanBackend<batched::HostRuntime>>(
      model, options, std::make_unique<batched::HostRuntime>(options.threads), slots);
}

}  // namespace flipsweep
