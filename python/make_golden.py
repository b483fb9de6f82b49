#!/usr/bin/python3
"""Writes golden test cases: an ONNX model plus PyTorch's output for an input.

Layout (the same as ONNX's own conformance data, e.g.
/usr/share/libonnx-testdata/data/node/test_relu/):

    OUTDIR/<case>/model.onnx
    OUTDIR/<case>/test_data_set_0/input_0.pb    onnx.TensorProto named "input"
    OUTDIR/<case>/test_data_set_0/output_0.pb   onnx.TensorProto named "logits"

nan_inf_semantics holds several such directories (one per tiny model) plus
argmax_cases.json; see tests/golden/README.md.

Usage:
    /usr/bin/python3 python/make_golden.py CASE [CASE ...] OUTDIR
    /usr/bin/python3 python/make_golden.py committed tests/golden   # the committed cases
    /usr/bin/python3 python/make_golden.py all OUTDIR               # committed + resnet18 + zoo
    /usr/bin/python3 python/make_golden.py zoo OUTDIR               # torchvision's models

Everything is seeded and single-threaded, so reruns give the same numbers.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flipsweep_models  # noqa: E402
from export_onnx import export  # noqa: E402

MODEL_SEED = 0
BN_STATS_SEED = 2   # separate stream, so the model's own init draws are untouched
INPUT_SEED = 1
# For centre_logits.  Chosen (among 3..14) so that in both ResNet20 goldens every
# row's top-2 margin is >= 2% of max |logit|: a correct importer within the
# 1e-4 tolerance can then never flip an argmax, so the check is not flaky.
CALIBRATION_SEED = 3

NAN = float("nan")
INF = float("inf")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _setup_determinism():
    torch.set_num_threads(1)
    # CPU kernels are deterministic already; this turns any nondeterministic
    # op that sneaks in into an error instead of a flaky golden.
    torch.use_deterministic_algorithms(True)


def randomize_batchnorm(model, generator):
    """Gives every BN layer realistic, non-trivial statistics and affine params.

    A freshly constructed BN (mean 0, var 1, weight 1, bias 0) is almost the
    identity, so a golden built from it would not notice an importer that
    ignores BN or swaps its inputs.  Distinct random values also keep torch
    from deduplicating identical BN initializers into Identity nodes.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))


def centre_logits(model, calibration_input):
    """Shifts the classifier bias so the mean logit over a calibration batch is 0.

    A randomly initialised ReLU network maps every input to nearly the same
    direction (all GAP features are positive with similar means), so without
    this every row of the golden has the same argmax with a wide margin,
    which would not catch an importer that mixes up rows or classes.  Trained
    networks have centred logits; subtracting the calibration mean gives the
    golden that property while keeping it a plain, valid model.  The
    calibration batch is drawn from a different seed than the golden input.
    """
    model.eval()
    with torch.no_grad():
        mean_logits = model(calibration_input).mean(dim=0)
        model.fc.bias.sub_(mean_logits)


def write_case(case_dir, model, example_input):
    """Exports `model`, runs it on `example_input`, writes the ONNX test case."""
    model.eval()
    model_path = os.path.join(case_dir, "model.onnx")
    export(model, example_input, model_path)
    with torch.no_grad():
        output = model(example_input)
    data_dir = os.path.join(case_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    _write_tensor(os.path.join(data_dir, "input_0.pb"), example_input, "input")
    _write_tensor(os.path.join(data_dir, "output_0.pb"), output, "logits")
    return output


def _write_tensor(path, tensor, name):
    proto = onnx.numpy_helper.from_array(tensor.detach().numpy().astype(np.float32), name=name)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def _print_logit_summary(case, logits):
    finite = logits[torch.isfinite(logits)]
    print(f"  {case}: logits {tuple(logits.shape)}, max |logit| = "
          f"{finite.abs().max().item():.4g}, per-row spread (max-min) = "
          f"{[round(v, 3) for v in (logits.max(1).values - logits.min(1).values).tolist()]}")
    print(f"  {case}: argmax per row = {torch.argmax(logits, dim=1).tolist()}")
    top2 = logits.topk(2, dim=1).values
    # Top-1 minus top-2: how much numerical slack the argmax comparison has.
    print(f"  {case}: top-2 margin per row = "
          f"{['%.2e' % v for v in (top2[:, 0] - top2[:, 1]).tolist()]}")


# ---------------------------------------------------------------------------
# ResNet cases
# ---------------------------------------------------------------------------


def _resnet_case(case_dir, build_model, input_shape, calibration_size):
    torch.manual_seed(MODEL_SEED)
    model = build_model()
    randomize_batchnorm(model, torch.Generator().manual_seed(BN_STATS_SEED))
    calibration_input = torch.randn(calibration_size, *input_shape[1:],
                                    generator=torch.Generator().manual_seed(CALIBRATION_SEED))
    centre_logits(model, calibration_input)
    example_input = torch.randn(*input_shape, generator=torch.Generator().manual_seed(INPUT_SEED))
    logits = write_case(case_dir, model, example_input)
    _print_logit_summary(os.path.basename(case_dir), logits)


def case_resnet20_cifar(case_dir):
    _resnet_case(case_dir, lambda: flipsweep_models.resnet20(num_classes=10, in_channels=3),
                 (8, 3, 32, 32), calibration_size=64)


def case_resnet20_tanh_saf(case_dir):
    _resnet_case(case_dir, lambda: flipsweep_models.resnet20(num_classes=10, in_channels=3,
                                                             saf="tanh"),
                 (8, 3, 32, 32), calibration_size=64)


def case_resnet18(case_dir):
    _resnet_case(case_dir, lambda: flipsweep_models.resnet18(num_classes=1000),
                 (2, 3, 224, 224), calibration_size=8)


# ---------------------------------------------------------------------------
# torchvision's classification models (the CPU engine issue's parity list)
# ---------------------------------------------------------------------------

# name -> (builder, input side). Small inputs where the architecture allows them; VGG's
# AdaptiveAvgPool2d((7, 7)) exports as a fixed AveragePool only when the feature map is a
# multiple of 7, so VGG needs 224.
ZOO_MODELS = {
    "resnet18": ("resnet18", 64),
    "resnet50": ("resnet50", 64),
    "vgg11_bn": ("vgg11_bn", 224),
    "mobilenet_v2": ("mobilenet_v2", 64),
    "mobilenet_v3_small": ("mobilenet_v3_small", 64),
    "densenet121": ("densenet121", 64),
    "squeezenet1_1": ("squeezenet1_1", 64),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", 64),
    "efficientnet_b0": ("efficientnet_b0", 64),
}
# The input is drawn from the first seed (from INPUT_SEED on) whose every row has a top-2 margin of
# at least this fraction of max |logit|, so that an importer within the 1e-4 relative tolerance can
# never flip an argmax: the identical-argmax check is then not flaky.
ZOO_MIN_MARGIN = 1e-3


def calibrate_batchnorm(model, calibration_input, generator):
    """Random BatchNorm affine parameters, and statistics of a calibration batch as training would
    leave them; leaves the model in eval mode.

    Deep random networks with the statistics of randomize_batchnorm drift: in MobileNetV2/V3 and
    ShuffleNetV2 the last features vanish and every logit equals the bias, which would make a
    useless golden. Statistics measured on the network's own activations keep every layer's
    output near unit scale, as in a trained network. The affine parameters are set first, so
    that each layer's statistics are measured on what the layers before it compute in eval mode.
    """
    batchnorms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in batchnorms:
            n = bn.num_features
            bn.weight.copy_(0.5 + torch.rand(n, generator=generator))
            bn.bias.copy_(0.1 * torch.randn(n, generator=generator))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: after one batch, exactly its statistics
        # Only BatchNorm in training mode: dropout and stochastic depth (EfficientNet) stay the
        # identity, so the statistics are those of the network as evaluated.
        model.eval()
        for bn in batchnorms:
            bn.train()
        model(calibration_input)
        for bn in batchnorms:
            bn.momentum = 0.1
    model.eval()


def _last_linear(model):
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _zoo_case(case_dir, name):
    import torchvision
    builder, side = ZOO_MODELS[name]
    torch.manual_seed(MODEL_SEED)
    model = getattr(torchvision.models, builder)(weights=None)
    calibration = torch.randn(8, 3, side, side, generator=torch.Generator().manual_seed(CALIBRATION_SEED))
    calibrate_batchnorm(model, calibration, torch.Generator().manual_seed(BN_STATS_SEED))
    head = _last_linear(model)
    if head is not None and head.bias is not None:  # squeezenet's head is a conv before ReLU
        with torch.no_grad():
            head.bias.sub_(model(calibration).mean(dim=0))
    for seed in range(INPUT_SEED, INPUT_SEED + 50):
        example_input = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            logits = model(example_input)
        top2 = logits.topk(2, dim=1).values
        if (top2[:, 0] - top2[:, 1]).min() >= ZOO_MIN_MARGIN * logits.abs().max():
            break
    else:
        raise RuntimeError(f"{name}: no input seed gives a top-2 margin of {ZOO_MIN_MARGIN} of max |logit|")
    print(f"  {name}: input seed {seed}")
    logits = write_case(case_dir, model, example_input)
    _print_logit_summary(os.path.basename(case_dir), logits)


def _zoo_case_function(name):
    return lambda case_dir: _zoo_case(case_dir, name)


# ---------------------------------------------------------------------------
# U-Net cases (per-pixel logits)
# ---------------------------------------------------------------------------


def centre_pixel_logits(model, calibration_input):
    """centre_logits for a segmentation head: shifts `model.head.bias` so each
    class's mean logit over a calibration batch (all images and pixels) is 0.

    Without it one class wins almost every pixel of a random network, and the
    per-pixel argmax check would not notice swapped classes or pixels.
    """
    model.eval()
    with torch.no_grad():
        mean_logits = model(calibration_input).mean(dim=(0, 2, 3))
        model.head.bias.sub_(mean_logits)


def _print_pixel_logit_summary(case, logits):
    classes = logits.shape[1]
    per_pixel = logits.permute(0, 2, 3, 1).reshape(-1, classes)
    top2 = per_pixel.topk(2, dim=1).values
    margin = top2[:, 0] - top2[:, 1]
    max_abs = logits.abs().max().item()
    counts = torch.bincount(torch.argmax(logits, dim=1).flatten(), minlength=classes)
    print(f"  {case}: logits {tuple(logits.shape)}, max |logit| = {max_abs:.4g}, "
          f"pixels per argmax class = {counts.tolist()}")
    print(f"  {case}: smallest top-2 margin = {margin.min().item():.3e} "
          f"({margin.min().item() / max_abs:.2e} of max |logit|), "
          f"pixels with margin < 1e-4 * max |logit|: {int((margin < 1e-4 * max_abs).sum())}")


def _unet_case(case_dir, activation, up):
    torch.manual_seed(MODEL_SEED)
    model = flipsweep_models.unet(in_channels=1, num_classes=2, base_channels=8, depth=2,
                                  activation=activation, up=up)
    randomize_batchnorm(model, torch.Generator().manual_seed(BN_STATS_SEED))
    calibration_input = torch.randn(8, 1, 32, 32,
                                    generator=torch.Generator().manual_seed(CALIBRATION_SEED))
    centre_pixel_logits(model, calibration_input)
    example_input = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(INPUT_SEED))
    logits = write_case(case_dir, model, example_input)
    _print_pixel_logit_summary(os.path.basename(case_dir), logits)


def case_unet_relu_transpose(case_dir):
    _unet_case(case_dir, activation="relu", up="transpose")


def case_unet_hardsigmoid_nearest(case_dir):
    _unet_case(case_dir, activation="hardsigmoid", up="nearest")


def case_zoo_unet_pruned(case_dir):
    """A U-Net (ReLU, ConvTranspose, 16 base channels) channel-pruned by filter norm to half its
    inner channels (flipsweep_models.prune_unet_channels): the pruning export round trip. Generated
    at test time like the zoo cases (tests/test_support.h torchvision_case("unet_pruned"))."""
    torch.manual_seed(MODEL_SEED)
    model = flipsweep_models.unet(in_channels=1, num_classes=3, base_channels=16, depth=2, activation="relu",
                                  up="transpose")
    randomize_batchnorm(model, torch.Generator().manual_seed(BN_STATS_SEED))
    model = flipsweep_models.prune_unet_channels(model, 0.5)
    calibration_input = torch.randn(8, 1, 32, 32, generator=torch.Generator().manual_seed(CALIBRATION_SEED))
    centre_pixel_logits(model, calibration_input)
    example_input = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(INPUT_SEED))
    logits = write_case(case_dir, model, example_input)
    _print_pixel_logit_summary(os.path.basename(case_dir), logits)


# ---------------------------------------------------------------------------
# NaN / Inf semantics
# ---------------------------------------------------------------------------


class ReluMaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.relu(x))


def _relu_maxpool_input():
    # 1x2x4x4; each channel has four 2x2 windows.  Comments give the window's
    # content and the result PyTorch gives (relu, then max over the window).
    ch0 = [
        [1.0, NAN, 2.0, INF],        # window (0,0): 1, NaN, 3, 4  -> NaN
        [3.0, 4.0, -1.0, 0.5],       # window (0,1): 2, Inf, -1, .5 -> Inf
        [-INF, 0.25, -INF, -INF],    # window (1,0): -Inf, .25, 5, -2 -> 5
        [5.0, -2.0, -INF, -INF],     # window (1,1): all -Inf -> relu 0 -> 0
    ]
    ch1 = [
        [INF, -3.0, -1.0, -2.0],     # window (0,0): Inf, -3, -4, NaN -> NaN (Inf first)
        [-4.0, NAN, NAN, -5.0],      # window (0,1): -1, -2, NaN, -5 -> NaN (rest relu to 0)
        [0.5, 1.5, -INF, NAN],       # window (1,0): .5, 1.5, 2.5, -.5 -> 2.5
        [2.5, -0.5, -INF, INF],      # window (1,1): -Inf, NaN, -Inf, Inf -> NaN
    ]
    return torch.tensor([[ch0, ch1]], dtype=torch.float32)


def _conv_inf_times_zero():
    """Conv whose input holds +-Inf and whose weights hold exact zeros."""
    torch.manual_seed(MODEL_SEED)
    conv = nn.Conv2d(2, 3, kernel_size=3, padding=1, bias=True)
    with torch.no_grad():
        weight = torch.empty(3, 2, 3, 3).uniform_(0.25, 1.0, generator=torch.Generator().manual_seed(3))
        weight[0, 0] = 0.0               # out 0 ignores in 0 -> 0 * Inf = NaN near the Inf
        weight[1, 0, 1, 1] = 0.0         # out 1: only the centre tap of in 0 is zero
        weight[2, 1] = -weight[2, 1]     # out 2: +Inf (in 0) and -Inf*(-w) = +Inf add up
        conv.weight.copy_(weight)
        conv.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(INPUT_SEED))
    x[0, 0, 2, 2] = INF
    x[0, 1, 1, 3] = -INF
    x[0, 1, 4, 0] = INF
    return conv, x


def _batchnorm_bad_stats():
    """BatchNorm whose parameters a bit flip could produce.

    channel 0: ordinary values (input holds NaN, +Inf, -Inf)
    channel 1: running_var < 0 -> sqrt of a negative -> NaN everywhere
    channel 2: weight = +Inf, running_mean = 0.5
    channel 3: weight = +Inf, running_mean = 0
    PyTorch's CPU kernel computes alpha = weight / sqrt(var + eps),
    beta = bias - mean * alpha, y = x * alpha + beta, so with an Inf weight
    beta is -Inf (channel 2) or NaN (channel 3, 0 * Inf) and y is NaN where
    the textbook (x - mean) * alpha + bias would give +-Inf.  The golden
    records what PyTorch computes.
    """
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.1, 0.2, 0.5, 0.0]))
        bn.running_var.copy_(torch.tensor([0.8, -0.5, 1.0, 1.0]))
        bn.weight.copy_(torch.tensor([1.2, 0.9, INF, INF]))
        bn.bias.copy_(torch.tensor([0.05, -0.1, 0.0, 0.2]))
    row = [0.5, 1.0, -1.0, 0.0, 0.1, -0.25]  # includes x == mean for channels 2 and 3
    x = torch.tensor([row, row, row, row], dtype=torch.float32).view(1, 4, 2, 3)
    x[0, 0, 0, 0] = NAN
    x[0, 0, 0, 1] = INF
    x[0, 0, 0, 2] = -INF
    return bn, x


# Raw weight values a bit flip can leave behind, for the SAF case: zeros of
# both signs, ordinary values, near-FLT_MAX, +-Inf, NaN and a subnormal.
SAF_SPECIAL_WEIGHTS = [0.0, -0.0, 0.5, -2.0, 3.0e38, -3.0e38, INF, -INF, NAN, 1.0e-40]


class SafOnSpecialWeights(nn.Module):
    """One Linear(1, K) with zero bias per SAF, fed with x = 1.

    y = x @ tau(W)^T + 0 = tau(W), so the output shows tau on each special
    weight value.  Each layer's weight is the special-value list rotated by
    the layer index: distinct tensors, so torch does not deduplicate them.
    Output row: [tanh block | tanh0.5 block | softsign | arctan | hardtanh],
    each block K = len(SAF_SPECIAL_WEIGHTS) wide.
    """

    SAF_ORDER = ["tanh", "tanh0.5", "softsign", "arctan", "hardtanh"]

    def __init__(self):
        super().__init__()
        values = torch.tensor(SAF_SPECIAL_WEIGHTS, dtype=torch.float32)
        k = len(SAF_SPECIAL_WEIGHTS)
        self.heads = nn.ModuleList()
        for index, saf in enumerate(self.SAF_ORDER):
            # Bias present so Linear exports as Gemm (without it: Transpose+MatMul).
            head = flipsweep_models.SAFLinear(1, k, bias=True, saf=saf)
            with torch.no_grad():
                head.weight.copy_(torch.roll(values, index).view(k, 1))
                # The five all-zero biases are identical, so torch exports
                # one initializer and routes the other names through Identity
                # nodes: this case also exercises that aliasing.
                head.bias.zero_()
            self.heads.append(head)

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=1)


def _argmax_cases():
    """Rows of logits with NaN/Inf/ties and what torch.argmax / topk say."""
    rows = {
        "plain": [0.125, 2.5, -1.0, 0.375, 2.0, -0.5, 1.0, 0.0, 1.5, -2.0],
        "tie_first_wins": [1.0, 3.0, 0.5, 3.0, -1.0, 3.0, 0.0, 2.0, 1.0, -3.0],
        "single_nan": [1.0, 2.0, NAN, 5.0, 0.0, -1.0, 4.0, 3.0, 0.5, 0.25],
        "two_nans_first_wins": [1.0, NAN, 3.0, NAN, 0.0, 2.0, -1.0, 0.5, 4.0, 1.5],
        "nan_after_inf": [INF, 1.0, NAN, 2.0, 0.0, -1.0, 3.0, 0.5, 1.5, 2.5],
        "nan_before_inf": [NAN, 1.0, INF, 2.0, 0.0, -1.0, 3.0, 0.5, 1.5, 2.5],
        "pos_inf_ties": [1.0, INF, 2.0, INF, 0.0, -1.0, 3.0, 0.5, 1.5, 2.5],
        "neg_inf_loses": [-INF, 1.0, 2.0, -INF, 0.0, -1.0, 3.0, 0.5, 1.5, 2.5],
        "all_neg_inf": [-INF] * 10,
        "all_nan": [NAN] * 10,
        "all_equal": [5.0] * 10,
        "signed_zero_tie": [-0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0],
        "tie_at_top5_boundary": [9.0, 8.0, 7.0, 6.0, 1.0, 5.0, 5.0, 5.0, 0.0, -1.0],
        "nan_inf_mix": [NAN, -INF, INF, NAN, 3.0, -INF, INF, 2.0, 1.0, 0.0],
        "large_finite": [3.0e38, -3.0e38, 1.0e38, 3.0e38, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    }
    k = 5
    cases = []
    for name, values in rows.items():
        logits = torch.tensor(values, dtype=torch.float32)
        top = torch.topk(logits, k)
        # A tie straddling the k-th place makes the top-k *set* depend on the
        # selection algorithm; the test should not insist on those indices.
        kth = top.values[k - 1].item()
        outside = [logits[i].item() for i in range(len(values)) if i not in top.indices.tolist()]
        tie_at_boundary = any(v == kth or (math.isnan(v) and math.isnan(kth)) for v in outside)
        cases.append({
            "name": name,
            "logits": [_json_float(v) for v in logits.tolist()],
            "argmax": int(torch.argmax(logits).item()),
            "topk_indices": top.indices.tolist(),
            "topk_index_set": sorted(top.indices.tolist()),
            "tie_at_topk_boundary": tie_at_boundary,
        })
    return {
        "description": "torch.argmax and torch.topk on logits rows with NaN, +-Inf and "
                       "ties; torch treats NaN as greater than every number (argmax "
                       "returns the first NaN) and returns the first maximum on ties. "
                       "Where tie_at_topk_boundary is true the topk set is "
                       "implementation-defined.",
        "torch_version": torch.__version__,
        "k": k,
        "cases": cases,
    }


def _write_argmax_json(path, document):
    """JSON with one case per line, so diffs of the golden stay readable."""
    cases = document["cases"]
    header = {key: value for key, value in document.items() if key != "cases"}
    lines = ["{"]
    for key, value in header.items():
        lines.append(f" {json.dumps(key)}: {json.dumps(value)},")
    lines.append(' "cases": [')
    lines.append(",\n".join("  " + json.dumps(case, allow_nan=False) for case in cases))
    lines.append(" ]")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    json.loads(open(path).read())  # must stay valid JSON


def _json_float(value):
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def case_nan_inf_semantics(case_dir):
    outputs = {}
    outputs["relu_maxpool"] = write_case(
        os.path.join(case_dir, "relu_maxpool"), ReluMaxPool(), _relu_maxpool_input())
    conv, conv_input = _conv_inf_times_zero()
    outputs["conv_inf_times_zero"] = write_case(
        os.path.join(case_dir, "conv_inf_times_zero"), conv, conv_input)
    bn, bn_input = _batchnorm_bad_stats()
    outputs["batchnorm_bad_stats"] = write_case(
        os.path.join(case_dir, "batchnorm_bad_stats"), bn, bn_input)
    outputs["saf_special_weights"] = write_case(
        os.path.join(case_dir, "saf_special_weights"), SafOnSpecialWeights(),
        torch.ones(1, 1))

    _write_argmax_json(os.path.join(case_dir, "argmax_cases.json"), _argmax_cases())

    for name, out in outputs.items():
        flat = out.flatten()
        print(f"  nan_inf_semantics/{name}: shape {tuple(out.shape)}, "
              f"{int(torch.isnan(flat).sum())} NaN, {int(torch.isposinf(flat).sum())} +Inf, "
              f"{int(torch.isneginf(flat).sum())} -Inf of {flat.numel()}")
    print(f"  relu_maxpool output: {outputs['relu_maxpool'].flatten().tolist()}")
    print(f"  batchnorm_bad_stats output:\n{outputs['batchnorm_bad_stats']}")
    print(f"  saf_special_weights input weights: {SAF_SPECIAL_WEIGHTS}")
    print(f"  saf_special_weights output:\n{outputs['saf_special_weights'].view(5, -1)}")


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

CASES = {
    "resnet20_cifar": case_resnet20_cifar,
    "resnet20_tanh_saf": case_resnet20_tanh_saf,
    "resnet18": case_resnet18,
    "nan_inf_semantics": case_nan_inf_semantics,
    "unet_relu_transpose": case_unet_relu_transpose,
    "unet_hardsigmoid_nearest": case_unet_hardsigmoid_nearest,
}
CASES.update({"zoo_" + name: _zoo_case_function(name) for name in ZOO_MODELS})
CASES["zoo_unet_pruned"] = case_zoo_unet_pruned
# Committed under tests/golden; resnet18 (~45 MB) and the zoo_* cases are generated at test time.
COMMITTED_CASES = ["resnet20_cifar", "resnet20_tanh_saf", "nan_inf_semantics",
                   "unet_relu_transpose", "unet_hardsigmoid_nearest"]
CASE_GROUPS = {"committed": COMMITTED_CASES, "all": list(CASES),
               "zoo": ["zoo_" + name for name in ZOO_MODELS]}


def main(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("cases: " + ", ".join(list(CASES) + list(CASE_GROUPS)))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    *requested, out_dir = argv
    names = []
    for name in requested:
        if name in CASE_GROUPS:
            names.extend(CASE_GROUPS[name])
        elif name in CASES:
            names.append(name)
        else:
            print(f"unknown case {name!r}; choose from {list(CASES) + list(CASE_GROUPS)}",
                  file=sys.stderr)
            return 2
    _setup_determinism()
    for name in dict.fromkeys(names):  # dedupe, keep order
        print(f"== {name} -> {os.path.join(out_dir, name)}")
        CASES[name](os.path.join(out_dir, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
