#pragma once
// The activation nodes a backend may apply as one core::PointwiseStep, fused behind a conv (the CPU
// backend's epilogue, the trial-batched plan): Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, Tanh,
// Softsign, Atan, HardSwish. One mapping, so every backend reads a node's parameters the same way.
#include "flipsweep/core/pointwise.h"
#include "flipsweep/graph/graph.h"

namespace flipsweep {

// False (and *step untouched) for any other node.
bool pointwise_step_of(const Node& node, core::PointwiseStep* step);

}  // namespace flipsweep
