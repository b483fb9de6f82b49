// oneDNN convolutions and transposed convolutions (deconvolution): creating a primitive for the plan, packing a trial's weights into the
// primitive's opaque layout (whole, or a few elements through an index map), running it.
//
// oneDNN's own ReLU post-op maps NaN to 0 (checked: eltwise_relu and clip both do), which would
// make a collapsed model score differently from PyTorch, so the primitive computes the bare
// convolution (+ bias) and epilogue.cpp does the rest.
#include <unordered_map>

#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::cpu {

memory::desc activation_md(const Shape& shape, bool blocked, int block) {
  memory::dims dims(shape.begin(), shape.end());
  memory::format_tag tag = !blocked ? memory::format_tag::nchw
                           : block == 16 ? memory::format_tag::nChw16c
                                         : memory::format_tag::nChw8c;
  return memory::desc(dims, memory::data_type::f32, tag);
}

namespace {

// oneDNN's packed weight layouts are opaque, so the map is found by reordering a tensor whose
// values are the element indices (plus one; padding stays 0). Floats hold integers exactly up to
// 2^24, which bounds the tensors mapped this way; larger ones are reordered whole on change.
void map_packed_positions(ConvPrimitive& prim, const dnnl::engine& engine) {
  const int64_t count = static_cast<int64_t>(prim.user_weights_md.get_size() / sizeof(float));
  if (count >= (int64_t{1} << 24)) return;
  std::vector<float> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  std::vector<float> packed(prim.weights_md.get_size() / sizeof(float), 0.0f);
  dnnl::stream stream(engine);
  memory user(prim.user_weights_md, engine, indices.data());
  memory packed_memory(prim.weights_md, engine, packed.data());
  dnnl::reorder(user, packed_memory).execute(stream, user, packed_memory);
  stream.wait();
  prim.packed_position.assign(static_cast<size_t>(count), -1);
  for (size_t j = 0; j < packed.size(); ++j)
    if (packed[j] > 0.0f) prim.packed_position[static_cast<size_t>(packed[j]) - 1] = static_cast<int64_t>(j);
  for (int64_t position : prim.packed_position)
    if (position < 0) {  // not a plain permutation (should not happen): fall back to whole reorders
      prim.packed_position.clear();
      return;
    }
}

// The primitive (convolution_forward or deconvolution_forward, which share their descriptor's
// form) from the memory descriptors already in `prim`, and its packed weight map.
template <class Primitive>
void finish_primitive(ConvPrimitive& prim, dnnl::algorithm algorithm, const memory::desc& weights_any,
                      const memory::dims& strides, const memory::dims& dilations, const memory::dims& pad_l,
                      const memory::dims& pad_r, const dnnl::primitive_attr& attr, const dnnl::engine& engine) {
  auto desc = prim.has_bias ? typename Primitive::desc(dnnl::prop_kind::forward_inference, algorithm, prim.src_md,
                                                       weights_any, prim.bias_md, prim.dst_md, strides, dilations,
                                                       pad_l, pad_r)
                            : typename Primitive::desc(dnnl::prop_kind::forward_inference, algorithm, prim.src_md,
                                                       weights_any, prim.dst_md, strides, dilations, pad_l, pad_r);
  typename Primitive::primitive_desc pd(desc, attr, engine);
  prim.implementation = pd.impl_info_str();
  prim.weights_md = pd.weights_desc();
  prim.scratchpad_md = pd.scratchpad_desc();
  prim.primitive = Primitive(pd);
  map_packed_positions(prim, engine);
}

// oneDNN's right padding of a deconvolution: what makes its output size ours (output_padding and
// an output_shape included).
int64_t deconvolution_pad_end(const SpatialGeometry& g, size_t i) {
  const int64_t full = (g.input[i] - 1) * g.strides[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
  return full - g.pads_begin[i] - g.output[i];
}

}  // namespace

bool transposed_conv_fits_onednn(const ConvParams& p, const Shape& x, const Shape& w) {
  const SpatialGeometry g = conv_transpose_geometry(p, x, w);
  for (size_t i = 0; i < g.pads_begin.size(); ++i)
    if (g.pads_begin[i] < 0 || deconvolution_pad_end(g, i) < 0) return false;
  return true;
}

ConvPrimitive make_conv_primitive(const ConvGeometry& g, const dnnl::engine& engine) {
  const ConvParams& cp = *g.params;
  ConvPrimitive prim;
  const Shape& wshape = g.weight_shape;
  const SpatialGeometry geometry =
      g.transposed ? conv_transpose_geometry(cp, g.src_shape, wshape) : conv_geometry(cp, g.src_shape, wshape);
  memory::dims strides(geometry.strides.begin(), geometry.strides.end());
  memory::dims dil(geometry.dilations.begin(), geometry.dilations.end());
  for (auto& d : dil) d -= 1;  // oneDNN counts dilation from 0
  memory::dims pad_l(geometry.pads_begin.begin(), geometry.pads_begin.end());
  memory::dims pad_r(geometry.pads_end.begin(), geometry.pads_end.end());
  if (g.transposed)
    for (size_t i = 0; i < pad_r.size(); ++i) pad_r[i] = deconvolution_pad_end(geometry, i);
  // Plain weights as the graph stores them: Conv [M, C/g, kH, kW]; ConvTranspose [C, M/g, kH, kW],
  // which oneDNN (output channels first) reads as iohw.
  memory::dims wdims;
  if (cp.group == 1) {
    wdims = g.transposed ? memory::dims{wshape[1], wshape[0], wshape[2], wshape[3]}
                         : memory::dims{wshape[0], wshape[1], wshape[2], wshape[3]};
    prim.user_weights_md = memory::desc(wdims, memory::data_type::f32,
                                        g.transposed ? memory::format_tag::iohw : memory::format_tag::oihw);
  } else if (g.transposed) {
    wdims = {cp.group, wshape[1], wshape[0] / cp.group, wshape[2], wshape[3]};
    prim.user_weights_md = memory::desc(wdims, memory::data_type::f32, memory::format_tag::giohw);
  } else {
    wdims = {cp.group, wshape[0] / cp.group, wshape[1], wshape[2], wshape[3]};
    prim.user_weights_md = memory::desc(wdims, memory::data_type::f32, memory::format_tag::goihw);
  }
  prim.src_md = g.src_md;
  prim.dst_md = activation_md(g.dst_shape, g.dst_blocked, g.block);
  memory::desc weights_any(wdims, memory::data_type::f32, memory::format_tag::any);
  prim.has_bias = g.has_bias;
  prim.out_channels = g.out_channels;
  prim.bias_md = memory::desc({g.out_channels}, memory::data_type::f32, memory::format_tag::x);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (g.transposed)
    finish_primitive<dnnl::deconvolution_forward>(prim, dnnl::algorithm::deconvolution_direct, weights_any, strides,
                                                  dil, pad_l, pad_r, attr, engine);
  else
    finish_primitive<dnnl::convolution_forward>(prim, dnnl::algorithm::convolution_direct, weights_any, strides, dil,
                                                pad_l, pad_r, attr, engine);
  return prim;
}

void pack_conv_weights(const ConvPrimitive& prim, const Tensor& w, std::vector<float>& packed,
                       const dnnl::engine& engine, dnnl::stream& stream) {
  packed.resize(prim.weights_md.get_size() / sizeof(float));
  memory user(prim.user_weights_md, engine, const_cast<float*>(w.ptr()));
  memory packed_memory(prim.weights_md, engine, packed.data());
  dnnl::reorder(user, packed_memory).execute(stream, user, packed_memory);
  stream.wait();
}

void patch_conv_weights(const ConvPrimitive& prim, const Tensor& w, const std::vector<int64_t>& elements,
                        std::vector<float>& packed) {
  for (int64_t e : elements)
    packed[static_cast<size_t>(prim.packed_position[static_cast<size_t>(e)])] = w.data[static_cast<size_t>(e)];
}

void run_conv(const ConvPrimitive& prim, float* src, const float* weights, const float* bias, float* dst,
              uint8_t* scratchpad, const dnnl::engine& engine, dnnl::stream& stream) {
  memory src_memory(prim.src_md, engine, src);
  memory weights_memory(prim.weights_md, engine, const_cast<float*>(weights));
  memory dst_memory(prim.dst_md, engine, dst);
  memory scratch(prim.scratchpad_md, engine, scratchpad);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_memory},
                                       {DNNL_ARG_WEIGHTS, weights_memory},
                                       {DNNL_ARG_DST, dst_memory},
                                       {DNNL_ARG_SCRATCHPAD, scratch}};
  if (prim.has_bias) args.emplace(DNNL_ARG_BIAS, memory(prim.bias_md, engine, const_cast<float*>(bias)));
  prim.primitive.execute(stream, args);
  stream.wait();
}

}  // namespace flipsweep::cpu
