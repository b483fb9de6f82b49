#pragma once
// Signs that a model was exported the plain way (torch.onnx.export of an nn.Module in eval mode)
// rather than so that faults land where the network stores its weights: BatchNorm folded into the
// convolutions (the weights are then weight · γ/σ, not the stored ones) and parameters renamed
// by the exporter ("onnx::Conv_33": faults.csv and target patterns cannot use state_dict names).
#include <string>
#include <vector>

#include "flipsweep/graph/graph.h"

namespace flipsweep {

// One line per sign found, each naming the model file and saying what to do; empty when none.
std::vector<std::string> plain_export_warnings(const Model& model);

// Prints them to stderr as "flipsweep: warning: ...".
void warn_about_plain_export(const Model& model);

}  // namespace flipsweep
