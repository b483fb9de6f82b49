#pragma once
// Fault corrections for layers that keep the clean weights shared by all trials (see
// batched/trial_plan.h). A trial's faults arrive as WeightCorrections: which element of which
// layer's weight changed, its faulted stored word and the decoding program. DecodeCorrectionsBody
// turns each into its effective value (decode the word, apply the SAF — the same core/ code the
// host's weight preparation runs, so the same bits); the per-layer correction bodies then add
// (effective − clean) × input to the outputs the weight feeds, for that trial's images only, or
// recompute an output element directly where a difference is not exact.
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/pointwise.h"
#include "flipsweep/core/storage_formats.h"
#include "flipsweep/kernels/direct_conv.h"

namespace flipsweep::kernels {

struct WeightCorrection {
  int32_t trial = 0;       // position of the trial in its block
  int32_t program = -1;    // decoding program index; -1: use host_value
  int64_t element = 0;     // flat index into the layer's weight tensor (PyTorch order)
  uint32_t word = 0;       // faulted stored word
  float scale = 1.0f;      // int8 scale of the element
  float clean = 0.0f;      // clean effective value
  float host_value = 0.0f; // the host's effective value
};

// Corrections of one trial that feed one output channel, contiguous and sorted by element.
struct CorrectionGroup {
  int32_t trial = 0;
  int32_t out_channel = 0;
  int64_t first = 0;
  int64_t count = 0;
};

FLIPSWEEP_HD bool is_finite(float x) { return x == x && x - x == 0.0f; }

// Adds (faulted − clean) · input to `sum`. False, adding nothing, when that difference would not be
// exact: with a non-finite input or weight, Inf·w + Inf·(−2w) is NaN where the direct sum is −Inf.
FLIPSWEEP_HD bool add_difference(float& sum, float input, float faulted, float clean) {
  if (!(is_finite(input) && is_finite(faulted) && is_finite(clean))) return false;
  sum += core::mul_rn(faulted - clean, input);
  return true;
}

// One index per correction: its effective value.
struct DecodeCorrectionsBody {
  const WeightCorrection* corrections = nullptr;
  const core::PointwiseProgram* programs = nullptr;
  core::StorageFormat format;
  float* effective = nullptr;
  FLIPSWEEP_HD void operator()(int64_t i) const {
    const WeightCorrection& c = corrections[i];
    effective[i] = c.program < 0 ? c.host_value
                                 : core::apply_pointwise(programs[c.program], core::decode(format, c.word, c.scale));
  }
};

// A conv correction body's work item: index = (correction group, image, output pixel), images
// per trial = g.batch.
struct CorrectionSite {
  int64_t group, image, oh, ow;
};
FLIPSWEEP_HD CorrectionSite correction_site(const Conv2dGeometry& g, int64_t i) {
  const int64_t pixels = g.out_h * g.out_w;
  const int64_t rest = i % (g.batch * pixels), pixel = rest % pixels;
  return CorrectionSite{i / (g.batch * pixels), rest / pixels, pixel / g.out_w, pixel % g.out_w};
}

// Index = (group, image, output pixel). Adds the group's corrections to y[trial, image, channel,
// pixel] of a Conv whose dense pass used the clean weights (no bias: the epilogue adds it).
struct ConvCorrectionBody {
  const WeightCorrection* corrections = nullptr;
  const float* effective = nullptr;
  const CorrectionGroup* groups = nullptr;
  const float* clean_weights = nullptr;  // [M, C/groups, KH, KW]
  const float* x = nullptr;
  int64_t x_trial_stride = 0;  // 0 when the input is shared by all trials
  float* y = nullptr;
  int64_t y_trial_stride = 0;
  Conv2dGeometry g;  // batch = images per trial

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const CorrectionSite at = correction_site(g, i);
    const int64_t n = at.image, oh = at.oh, ow = at.ow;
    const CorrectionGroup& group = groups[at.group];
    const int64_t o = group.out_channel;
    const int64_t channels_per_group = g.in_channels / g.group;
    const int64_t first_channel = (o / (g.out_channels / g.group)) * channels_per_group;
    const int64_t taps = g.kernel_h * g.kernel_w;
    const float* image = x + group.trial * x_trial_stride + n * g.in_channels * g.in_h * g.in_w;
    float* out = y + group.trial * y_trial_stride + ((n * g.out_channels + o) * g.out_h + oh) * g.out_w + ow;

    float sum = 0.0f;
    bool exact = true, applied = false;
    for (int64_t k = group.first; k < group.first + group.count && exact; ++k) {
      const int64_t within = corrections[k].element - o * channels_per_group * taps;
      const int64_t c = within / taps, kh = (within % taps) / g.kernel_w, kw = within % g.kernel_w;
      const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
      const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
      if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;  // padded tap: no contribution
      exact = add_difference(sum, image[((first_channel + c) * g.in_h + ih) * g.in_w + iw], effective[k],
                             corrections[k].clean);
      applied = true;
    }
    if (exact) {
      if (applied) *out += sum;  // (adding +0 would turn a −0 output into +0)
      return;
    }
    // Not exact as a difference: the trial's direct sum, its changed weights merged in order.
    float direct = 0.0f;
    int64_t next = group.first;
    const int64_t end = group.first + group.count;
    const float* w = clean_weights + o * channels_per_group * taps;
    for (int64_t c = 0; c < channels_per_group; ++c)
      for (int64_t kh = 0; kh < g.kernel_h; ++kh)
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t e = (c * g.kernel_h + kh) * g.kernel_w + kw;
          float weight = w[e];
          while (next < end && corrections[next].element - o * channels_per_group * taps < e) ++next;
          if (next < end && corrections[next].element - o * channels_per_group * taps == e) weight = effective[next];
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
          const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
          if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
          direct += core::mul_rn(weight, image[((first_channel + c) * g.in_h + ih) * g.in_w + iw]);
        }
    *out = direct;
  }
};

// ConvTranspose: weight [C, M/groups, KH, KW]; output pixel (oh, ow) reads input (ih, iw) through
// tap (kh, kw) when oh = ih·stride − pad + kh·dilation. Index = (group, image, output pixel).
struct ConvTransposeCorrectionBody {
  const WeightCorrection* corrections = nullptr;
  const float* effective = nullptr;
  const CorrectionGroup* groups = nullptr;
  const float* clean_weights = nullptr;
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t y_trial_stride = 0;
  Conv2dGeometry g;  // batch = images per trial

  // Input coordinate feeding output `o` through tap `k`, or -1.
  FLIPSWEEP_HD static int64_t source(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t dilation, int64_t size) {
    const int64_t numerator = o + pad - k * dilation;
    if (numerator < 0 || numerator % stride != 0) return -1;
    const int64_t s = numerator / stride;
    return s < size ? s : -1;
  }

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const CorrectionSite at = correction_site(g, i);
    const int64_t n = at.image, oh = at.oh, ow = at.ow;
    const CorrectionGroup& group = groups[at.group];
    const int64_t o = group.out_channel;
    const int64_t out_per_group = g.out_channels / g.group, in_per_group = g.in_channels / g.group;
    const int64_t group_of_o = o / out_per_group, o_local = o % out_per_group;
    const int64_t taps = g.kernel_h * g.kernel_w;
    const float* image = x + group.trial * x_trial_stride + n * g.in_channels * g.in_h * g.in_w;
    float* out = y + group.trial * y_trial_stride + ((n * g.out_channels + o) * g.out_h + oh) * g.out_w + ow;

    float sum = 0.0f;
    bool exact = true, applied = false;
    for (int64_t k = group.first; k < group.first + group.count && exact; ++k) {
      const int64_t e = corrections[k].element;
      const int64_t c = e / (out_per_group * taps), kh = (e % taps) / g.kernel_w, kw = e % g.kernel_w;
      const int64_t ih = source(oh, kh, g.stride_h, g.pad_top, g.dilation_h, g.in_h);
      const int64_t iw = source(ow, kw, g.stride_w, g.pad_left, g.dilation_w, g.in_w);
      if (ih < 0 || iw < 0) continue;
      exact = add_difference(sum, image[(c * g.in_h + ih) * g.in_w + iw], effective[k], corrections[k].clean);
      applied = true;
    }
    if (exact) {
      if (applied) *out += sum;
      return;
    }
    float direct = 0.0f;
    for (int64_t c = group_of_o * in_per_group; c < (group_of_o + 1) * in_per_group; ++c)
      for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
        const int64_t ih = source(oh, kh, g.stride_h, g.pad_top, g.dilation_h, g.in_h);
        if (ih < 0) continue;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t iw = source(ow, kw, g.stride_w, g.pad_left, g.dilation_w, g.in_w);
          if (iw < 0) continue;
          const int64_t e = ((c * out_per_group + o_local) * g.kernel_h + kh) * g.kernel_w + kw;
          float weight = clean_weights[e];
          // Groups are small (a trial's changes in one output channel): a linear search is fine.
          for (int64_t k = group.first; k < group.first + group.count; ++k)
            if (corrections[k].element == e) weight = effective[k];
          direct += core::mul_rn(weight, image[(c * g.in_h + ih) * g.in_w + iw]);
        }
      }
    *out = direct;
  }
};

// Gemm: y[row, m] = Σ_k x[row, k] · w(m, k) over `rows` rows per trial. Index = (group, row).
struct GemmCorrectionBody {
  const WeightCorrection* corrections = nullptr;
  const float* effective = nullptr;
  const CorrectionGroup* groups = nullptr;
  const float* clean_weights = nullptr;
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t y_trial_stride = 0;
  int64_t rows = 0;
  int64_t k_size = 0, m_size = 0;
  bool weight_transposed = false;  // w stored [M, K]; else [K, M]

  FLIPSWEEP_HD int64_t k_of(int64_t element) const { return weight_transposed ? element % k_size : element / m_size; }
  FLIPSWEEP_HD int64_t element_of(int64_t m, int64_t k) const {
    return weight_transposed ? m * k_size + k : k * m_size + m;
  }

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const CorrectionGroup& group = groups[i / rows];
    const int64_t row = i % rows, m = group.out_channel;
    const float* in = x + group.trial * x_trial_stride + row * k_size;
    float* out = y + group.trial * y_trial_stride + row * m_size + m;
    float sum = 0.0f;
    bool exact = true;
    for (int64_t k = group.first; k < group.first + group.count && exact; ++k) {
      exact = add_difference(sum, in[k_of(corrections[k].element)], effective[k], corrections[k].clean);
    }
    if (exact) {
      *out += sum;
      return;
    }
    float direct = 0.0f;
    int64_t next = group.first;
    const int64_t end = group.first + group.count;
    for (int64_t kk = 0; kk < k_size; ++kk) {
      const int64_t e = element_of(m, kk);
      float weight = clean_weights[e];
      if (weight_transposed) {  // elements of one m are increasing in k: merge
        while (next < end && corrections[next].element < e) ++next;
        if (next < end && corrections[next].element == e) weight = effective[next];
      } else {
        for (int64_t k = group.first; k < end; ++k)
          if (corrections[k].element == e) weight = effective[k];
      }
      direct += core::mul_rn(weight, in[kk]);
    }
    *out = direct;
  }
};

// Fans a shared result out to every trial: data[t · per_trial + r] = data[r] for t ≥ 1.
// Index runs over (T − 1) · per_trial.
struct BroadcastBody {
  float* data = nullptr;
  int64_t per_trial = 0;
  FLIPSWEEP_HD void operator()(int64_t i) const { data[per_trial + i] = data[i % per_trial]; }
};

// A trial's own weight copy: weights[e] = effective value of its correction (index = correction).
// The copy starts as the clean weights.
struct ScatterCorrectionsBody {
  const WeightCorrection* corrections = nullptr;
  const float* effective = nullptr;
  float* weights = nullptr;
  FLIPSWEEP_HD void operator()(int64_t i) const { weights[corrections[i].element] = effective[i]; }
};

}  // namespace flipsweep::kernels
