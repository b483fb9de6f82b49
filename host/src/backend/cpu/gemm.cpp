// Gemm and MatMul whose second operand is a weight (a classifier's Linear layers) as a oneDNN
// matmul. The reference kernel's dot products add in one serial chain (~1 GFLOP/s), which made
// VGG's classifier about a third of its forward pass. The weights are read in their plain layout
// straight from the trial slot, so a fault needs no repacking.
#include <unordered_map>

#include "internal.h"

namespace flipsweep::cpu {

bool gemm_fits_onednn(const Node& n, const std::vector<Shape>& shapes) {
  auto shape = [&](int id) -> const Shape& { return shapes[static_cast<size_t>(id)]; };
  const Shape& a = shape(n.inputs[0]);
  const Shape& b = shape(n.inputs[1]);
  if (a.size() != 2 || b.size() != 2) return false;
  if (n.op == OpType::Gemm) {
    const auto& p = std::get<GemmParams>(n.params);
    if (p.trans_a || p.alpha != 1.0f) return false;
    const bool has_c = n.inputs.size() > 2 && n.inputs[2] >= 0;
    if (has_c) {
      // A bias per output column: C of shape [N] or [1, N], added once (beta 1).
      const Shape& c = shape(n.inputs[2]);
      const int64_t columns = p.trans_b ? b[0] : b[1];
      const bool per_column = (c.size() == 1 && c[0] == columns) || (c.size() == 2 && c[0] == 1 && c[1] == columns);
      if (!per_column || p.beta != 1.0f) return false;
    }
    return true;
  }
  return n.op == OpType::MatMul;
}

GemmPrimitive make_gemm_primitive(const Node& n, const std::vector<Shape>& shapes, const dnnl::engine& engine) {
  const Shape& a = shapes[static_cast<size_t>(n.inputs[0])];
  const Shape& b = shapes[static_cast<size_t>(n.inputs[1])];
  const bool trans_b = n.op == OpType::Gemm && std::get<GemmParams>(n.params).trans_b;
  const int64_t rows = a[0], depth = a[1], columns = trans_b ? b[0] : b[1];
  GemmPrimitive g;
  g.src_md = memory::desc({rows, depth}, memory::data_type::f32, memory::format_tag::ab);
  // B as stored: [K, N], or [N, K] read transposed.
  g.weights_md = memory::desc({depth, columns}, memory::data_type::f32,
                              trans_b ? memory::format_tag::ba : memory::format_tag::ab);
  g.dst_md = memory::desc({rows, columns}, memory::data_type::f32, memory::format_tag::ab);
  g.has_bias = n.op == OpType::Gemm && n.inputs.size() > 2 && n.inputs[2] >= 0;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd;
  if (g.has_bias) {
    g.bias_md = memory::desc({1, columns}, memory::data_type::f32, memory::format_tag::ab);
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(g.src_md, g.weights_md, g.bias_md, g.dst_md), attr, engine);
  } else {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(g.src_md, g.weights_md, g.dst_md), attr, engine);
  }
  g.implementation = pd.impl_info_str();
  g.scratchpad_md = pd.scratchpad_desc();
  g.primitive = dnnl::matmul(pd);
  return g;
}

void run_gemm(const GemmPrimitive& g, const float* a, const float* b, const float* bias, float* y, uint8_t* scratchpad,
              const dnnl::engine& engine, dnnl::stream& stream) {
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(g.src_md, engine, const_cast<float*>(a))},
                                       {DNNL_ARG_WEIGHTS, memory(g.weights_md, engine, const_cast<float*>(b))},
                                       {DNNL_ARG_DST, memory(g.dst_md, engine, y)},
                                       {DNNL_ARG_SCRATCHPAD, memory(g.scratchpad_md, engine, scratchpad)}};
  if (g.has_bias) args.emplace(DNNL_ARG_BIAS, memory(g.bias_md, engine, const_cast<float*>(bias)));
  g.primitive.execute(stream, args);
  stream.wait();
}

}  // namespace flipsweep::cpu
