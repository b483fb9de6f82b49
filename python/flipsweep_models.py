#!/usr/bin/python3
"""Model definitions for flipsweep's PyTorch companion scripts.

Provides the two networks of the SAF paper (seed 001, section IV) and the
weight-SAF mechanism of its section III:

  * resnet20(num_classes, in_channels, saf)  -- CIFAR ResNet20 (He et al. 2016)
  * resnet18(num_classes, saf)               -- torchvision ResNet18, untrained
  * unet(in_channels, num_classes, ...)      -- small U-Net encoder-decoder with
                                                per-pixel class logits
  * SAFConv2d / SAFConvTranspose2d /         -- Conv2d / ConvTranspose2d / Linear
    SAFLinear                                   that use tau(W) in forward but
                                                store the raw W

Why the SAF lives in forward and not in the stored weight: the fault model
flips bits of the *stored* parameter W, and tau is applied when the weight is
read (paper eq. 4: a_i = sigma(tau(W_hat_i) a_{i-1} + b_i)).  The bias is not
transformed (eq. 2 applies tau to W only).  Keeping tau inside forward means
the state_dict holds raw W under the standard names ("layer1.0.conv1.weight"),
and the ONNX export shows tau as a weight-only subgraph between the
initializer and the Conv/Gemm, which the C++ importer moves into weight
preparation.

ONNX ops each SAF exports to (opset 13, torch 1.13, checked by
export_onnx.py and listed in tests/golden/README.md):

  saf         tau(W)              ONNX nodes on the weight
  ----------  ------------------  --------------------------------------------
  "tanh"      tanh(W)             Tanh(W)
  "tanh0.5"   tanh(0.5 * W)       Mul(W, Constant 0.5) -> Tanh
  "softsign"  W / (1 + |W|)       Softsign(W)   (custom symbolic, see below)
  "arctan"    atan(W)             Atan(W)
  "hardtanh"  clamp(W, -1, 1)     Clip(W, Constant -1, Constant 1)

Only ops the C++ importer supports may appear in an export, so shapes are
handled with torch.flatten(x, 1) (-> Flatten) and AdaptiveAvgPool2d(1)
(-> GlobalAveragePool), never x.view(x.size(0), -1) (-> Shape/Gather/...).
"""

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# ---------------------------------------------------------------------------
# Saturated activation functions applied to weights
# ---------------------------------------------------------------------------


class _SoftsignWithOnnxSymbol(torch.autograd.Function):
    """softsign(x) = x / (1 + |x|), exported as a single ONNX Softsign node.

    torch 1.13 exports F.softsign as Abs -> Add(1) -> Div, and the importer
    has no Abs.  The `symbolic` hook makes the exporter emit Softsign instead
    while forward/backward keep PyTorch's exact arithmetic, so golden outputs
    are what F.softsign computes.  Note PyTorch's formula gives NaN for +-Inf
    (Inf / Inf); the C++ side must reproduce that rather than returning +-1.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softsign(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        # d/dx [x / (1 + |x|)] = 1 / (1 + |x|)^2
        denominator = 1.0 + x.abs()
        return grad_output / (denominator * denominator)

    @staticmethod
    def symbolic(g, x):
        # torch 1.13 warns that g.op moves to a new GraphContext type in 1.14;
        # g.op("...") keeps working there, so the warning is noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return g.op("Softsign", x)


def _tanh(w):
    return torch.tanh(w)


def _tanh_half(w):
    # "modified Tanh" tanh(c*x) with c = 0.5 (paper section III, Tanh0.5).
    return torch.tanh(0.5 * w)


def _softsign(w):
    return _SoftsignWithOnnxSymbol.apply(w)


def _arctan(w):
    # torch.atan already exports as a single ONNX Atan node.
    return torch.atan(w)


def _hardtanh(w):
    # Exports as Clip with min/max given as Constant inputs (opset >= 11).
    return F.hardtanh(w, -1.0, 1.0)


# Maps each supported SAF name to tau.  None means "no transform".
SAF_FUNCTIONS = {
    "tanh": _tanh,
    "tanh0.5": _tanh_half,
    "softsign": _softsign,
    "arctan": _arctan,
    "hardtanh": _hardtanh,
}

# The ONNX node chain each SAF produces on a weight, in order (used by
# export_onnx.py to check an export and by the README).
SAF_ONNX_OPS = {
    "tanh": ["Tanh"],
    "tanh0.5": ["Mul", "Tanh"],
    "softsign": ["Softsign"],
    "arctan": ["Atan"],
    "hardtanh": ["Clip"],
}


def saf_function(saf):
    """Returns tau for an SAF name, or None for saf=None."""
    if saf is None:
        return None
    if saf not in SAF_FUNCTIONS:
        raise ValueError(f"unknown saf {saf!r}; expected None or one of {sorted(SAF_FUNCTIONS)}")
    return SAF_FUNCTIONS[saf]


class SAFConv2d(nn.Conv2d):
    """nn.Conv2d whose forward uses tau(weight); the parameter stays raw W.

    Subclassing (instead of wrapping) keeps the parameter names `weight` and
    `bias`, so state_dicts and ONNX initializer names are the standard ones.
    """

    def __init__(self, *args, saf=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.saf = saf
        self._tau = saf_function(saf)

    def forward(self, x):
        weight = self.weight if self._tau is None else self._tau(self.weight)
        return self._conv_forward(x, weight, self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", saf={self.saf!r}"


class SAFLinear(nn.Linear):
    """nn.Linear whose forward uses tau(weight); the parameter stays raw W."""

    def __init__(self, *args, saf=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.saf = saf
        self._tau = saf_function(saf)

    def forward(self, x):
        weight = self.weight if self._tau is None else self._tau(self.weight)
        return F.linear(x, weight, self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", saf={self.saf!r}"


class SAFConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose forward uses tau(weight); the parameter stays raw W.

    Exports as tau's chain on the weight followed by ConvTranspose (input 1).
    """

    def __init__(self, *args, saf=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.saf = saf
        self._tau = saf_function(saf)

    def forward(self, x, output_size=None):
        if output_size is not None:
            raise ValueError("SAFConvTranspose2d does not take output_size; set output_padding")
        weight = self.weight if self._tau is None else self._tau(self.weight)
        return F.conv_transpose2d(x, weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)

    def extra_repr(self):
        return super().extra_repr() + f", saf={self.saf!r}"


SAF_MODULE_TYPES = (SAFConv2d, SAFConvTranspose2d, SAFLinear)


def apply_saf(model, saf):
    """Replaces every nn.Conv2d / nn.ConvTranspose2d / nn.Linear in `model` by
    its SAF version.

    Parameters are carried over unchanged (same tensors, same names), so this
    can wrap a pretrained torchvision model for SAF fine-tuning (paper
    section IV-B).  Returns the model for chaining.  saf=None is a no-op.
    """
    if saf is None:
        return model
    saf_function(saf)  # validate the name before touching the model
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Conv2d) and not isinstance(child, SAFConv2d):
            # Built on the meta device: its parameters are replaced right away,
            # and a real init would spend global RNG draws (shifting any seeded
            # draws that follow).
            replacement = SAFConv2d(
                child.in_channels, child.out_channels, child.kernel_size,
                stride=child.stride, padding=child.padding, dilation=child.dilation,
                groups=child.groups, bias=child.bias is not None,
                padding_mode=child.padding_mode, device="meta", saf=saf)
            replacement.weight = child.weight
            replacement.bias = child.bias
            replacement.train(child.training)
            setattr(model, name, replacement)
        elif isinstance(child, nn.ConvTranspose2d) and not isinstance(child, SAFConvTranspose2d):
            replacement = SAFConvTranspose2d(
                child.in_channels, child.out_channels, child.kernel_size,
                stride=child.stride, padding=child.padding,
                output_padding=child.output_padding, groups=child.groups,
                bias=child.bias is not None, dilation=child.dilation,
                padding_mode=child.padding_mode, device="meta", saf=saf)
            replacement.weight = child.weight
            replacement.bias = child.bias
            replacement.train(child.training)
            setattr(model, name, replacement)
        elif isinstance(child, nn.Linear) and not isinstance(child, SAFLinear):
            replacement = SAFLinear(child.in_features, child.out_features,
                                    bias=child.bias is not None, device="meta", saf=saf)
            replacement.weight = child.weight
            replacement.bias = child.bias
            replacement.train(child.training)
            setattr(model, name, replacement)
        else:
            apply_saf(child, saf)
    return model


# ---------------------------------------------------------------------------
# ResNet20 for CIFAR
# ---------------------------------------------------------------------------


def _conv3x3(in_channels, out_channels, stride, saf):
    return SAFConv2d(in_channels, out_channels, kernel_size=3, stride=stride,
                     padding=1, bias=False, saf=saf)


class CifarBasicBlock(nn.Module):
    """Two 3x3 conv+BN layers with a residual connection (He et al. 2016).

    Shortcut: option B -- a 1x1 conv (stride 2) + BN projection when the
    shape changes, identity otherwise.  He et al. used option A (identity
    with zero-padded channels, stride-2 subsampling) for CIFAR, but option A
    exports as Slice + Pad, which the flipsweep importer does not support;
    option B exports as Conv + BatchNormalization only.  It also gives the
    projection weights a name in the state_dict, so they are fault targets
    like every other conv.  Cost: 2 extra 1x1 convs (+ ~2.6k parameters).
    Names follow torchvision ("downsample.0" conv, "downsample.1" BN) so both
    models share one naming convention.
    """

    def __init__(self, in_channels, out_channels, stride, saf):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride, saf)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels, 1, saf)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                SAFConv2d(in_channels, out_channels, kernel_size=1, stride=stride,
                          bias=False, saf=saf),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.downsample = None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet for 32x32 inputs: 3x3 stem, three stages, GAP, linear."""

    def __init__(self, blocks_per_stage, num_classes=10, in_channels=3, saf=None):
        super().__init__()
        widths = (16, 32, 64)
        self.saf = saf
        self.conv1 = _conv3x3(in_channels, widths[0], 1, saf)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages = []
        current = widths[0]
        for stage_index, width in enumerate(widths):
            stride = 1 if stage_index == 0 else 2
            blocks = []
            for block_index in range(blocks_per_stage):
                blocks.append(CifarBasicBlock(current, width,
                                              stride if block_index == 0 else 1, saf))
                current = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        # AdaptiveAvgPool2d(1) exports as GlobalAveragePool.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = SAFLinear(widths[-1], num_classes, saf=saf)
        self._init_weights()

    def _init_weights(self):
        # Same scheme as torchvision's ResNet, so random-weight goldens have
        # realistic activation scales.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.avgpool(x), 1)  # Flatten, not Shape/Gather/Reshape
        return self.fc(x)


def resnet20(num_classes=10, in_channels=3, saf=None):
    """CIFAR ResNet20: 3 stages x 3 BasicBlocks (6n+2 layers with n=3)."""
    return CifarResNet(3, num_classes=num_classes, in_channels=in_channels, saf=saf)


# ---------------------------------------------------------------------------
# ResNet18 for ImageNet
# ---------------------------------------------------------------------------


def resnet18(num_classes=1000, saf=None):
    """torchvision ResNet18 with random weights, optionally SAF-wrapped.

    torchvision's forward already uses torch.flatten(x, 1) and
    AdaptiveAvgPool2d((1, 1)), so it exports with importer-supported ops.
    """
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    return apply_saf(model, saf)


# ---------------------------------------------------------------------------
# Small U-Net (Ronneberger et al. 2015) for per-pixel classification
# ---------------------------------------------------------------------------

# Activation name -> module.  Each exports as one ONNX node of the same name
# (opset 13): Relu, Sigmoid, HardSigmoid (alpha = 1/6, beta = 0.5, which is
# torch's relu6(x + 3) / 6).
UNET_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "hardsigmoid": nn.Hardsigmoid,
    "relu6": nn.ReLU6,  # exports as Clip(0, 6)
}

# Upsampling name -> how the decoder doubles H and W:
#   "transpose": ConvTranspose2d(kernel 2, stride 2) that also halves the
#                channels (ONNX ConvTranspose; its weight is a fault target);
#   "nearest":   NearestUpsample2d(2), an nn.Upsample(scale_factor=2,
#                mode="nearest") exported as one Resize (nearest, asymmetric
#                coordinates, floor rounding) with Constant scales; channels
#                unchanged, so the decoder block after the concat is wider.
UNET_UPSAMPLING = ("transpose", "nearest")


class _NearestUpsampleWithOnnxSymbol(torch.autograd.Function):
    """Nearest upsampling by an integer factor, exported as a single Resize.

    torch 1.13 exports nn.Upsample(scale_factor=2, mode="nearest") as
    Resize(x, "", Concat(Constant [1, 1], Constant [2, 2])).  With constant
    folding off (see export_onnx.py) the Concat stays in the graph, and the
    importer needs Resize's scales to be a Constant or an initializer, not a
    computed value.  This symbolic emits Resize(x, "", Constant [1, 1, s, s])
    with the attributes torch uses (asymmetric coordinates, floor rounding);
    forward is F.interpolate, so the numbers are exactly nn.Upsample's.
    """

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return F.interpolate(x, scale_factor=scale, mode="nearest")

    @staticmethod
    def backward(ctx, grad_output):
        # Output pixel (i, j) reads input (i // s, j // s): sum each s x s block.
        s = ctx.scale
        n, c, h, w = grad_output.shape
        return grad_output.reshape(n, c, h // s, s, w // s, s).sum(dim=(3, 5)), None

    @staticmethod
    def symbolic(g, x, scale):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            roi = torch.onnx.symbolic_helper._optional_input_placeholder_tensor(g)
            scales = g.op("Constant", value_t=torch.tensor([1.0, 1.0, float(scale), float(scale)],
                                                           dtype=torch.float32))
            return g.op("Resize", x, roi, scales, coordinate_transformation_mode_s="asymmetric",
                        mode_s="nearest", nearest_mode_s="floor")


class NearestUpsample2d(nn.Upsample):
    """nn.Upsample(scale_factor=s, mode="nearest") for an integer s, exported
    as one Resize with Constant scales (see _NearestUpsampleWithOnnxSymbol).

    Outside an ONNX export, forward is nn.Upsample's own.
    """

    def __init__(self, scale_factor=2):
        if int(scale_factor) != scale_factor or scale_factor < 1:
            raise ValueError(f"scale_factor must be a positive integer, got {scale_factor}")
        super().__init__(scale_factor=float(scale_factor), mode="nearest")

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return _NearestUpsampleWithOnnxSymbol.apply(x, int(self.scale_factor))
        return super().forward(x)


class UNetConvBlock(nn.Module):
    """(Conv3x3 (no bias) -> BN -> activation) twice, spatial size kept; the channels between the
    two convs are `mid_channels` (default out_channels; fewer after channel pruning)."""

    def __init__(self, in_channels, out_channels, activation, saf, mid_channels=None):
        super().__init__()
        act = UNET_ACTIVATIONS[activation]
        mid_channels = out_channels if mid_channels is None else mid_channels
        self.conv1 = _conv3x3(in_channels, mid_channels, 1, saf)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.act1 = act()
        self.conv2 = _conv3x3(mid_channels, out_channels, 1, saf)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = act()

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(x)))


class UNet(nn.Module):
    """Encoder-decoder with skip connections; output [N, num_classes, H, W].

    Encoder level i (i = 0 .. depth-1) is a UNetConvBlock with
    base_channels * 2^i channels followed by MaxPool2d(2); the bottleneck has
    base_channels * 2^depth channels.  Each decoder level upsamples by 2
    (see UNET_UPSAMPLING), concatenates [upsampled, encoder output of the
    same resolution] along channels (torch.cat -> ONNX Concat, axis 1), runs
    a UNetConvBlock back to that level's width, and a final 1x1 conv (with
    bias) gives per-pixel logits.
    H and W must be divisible by 2^depth.  Exports only as Conv,
    BatchNormalization, the activation, MaxPool, ConvTranspose or Resize
    (+ one Constant for its scales), Concat and, with an SAF, tau's ops on
    weights.
    """

    def __init__(self, in_channels=1, num_classes=2, base_channels=8, depth=2,
                 activation="relu", saf=None, up="transpose", mid_channels=None):
        super().__init__()
        # mid_channels: per conv block (encoders, bottleneck, decoders in that order) the channels
        # between its two convs; None keeps each block's width (see prune_unet_channels).
        if mid_channels is not None and len(mid_channels) != 2 * depth + 1:
            raise ValueError(f"mid_channels needs {2 * depth + 1} entries (one per conv block), got {len(mid_channels)}")
        mids = list(mid_channels) if mid_channels is not None else [None] * (2 * depth + 1)
        if activation not in UNET_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of "
                             f"{sorted(UNET_ACTIVATIONS)}")
        if up not in UNET_UPSAMPLING:
            raise ValueError(f"unknown up {up!r}; expected one of {list(UNET_UPSAMPLING)}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        saf_function(saf)  # validate
        self.saf = saf
        self.activation = activation
        self.up_mode = up
        self.depth = depth
        widths = [base_channels * 2 ** i for i in range(depth + 1)]

        self.encoders = nn.ModuleList()
        current = in_channels
        for level, width in enumerate(widths[:-1]):
            self.encoders.append(UNetConvBlock(current, width, activation, saf, mids[level]))
            current = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = UNetConvBlock(current, widths[-1], activation, saf, mids[depth])
        current = widths[-1]

        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level, width in enumerate(reversed(widths[:-1])):
            if up == "transpose":
                self.ups.append(SAFConvTranspose2d(current, width, kernel_size=2, stride=2,
                                                   saf=saf))
                up_channels = width
            else:
                self.ups.append(NearestUpsample2d(2))
                up_channels = current
            self.decoders.append(UNetConvBlock(up_channels + width, width, activation, saf, mids[depth + 1 + level]))
            current = width
        self.head = SAFConv2d(current, num_classes, kernel_size=1, bias=True, saf=saf)
        self._init_weights()

    def _init_weights(self):
        # Kaiming normal for the 3x3 convs as in the ResNets (gain for ReLU;
        # kept for the other activations too, so the activation choice does
        # not change the weights); PyTorch's default init for ConvTranspose2d
        # and the 1x1 head.
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = decoder(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def unet(in_channels=1, num_classes=2, base_channels=8, depth=2, activation="relu", saf=None,
         up="transpose", mid_channels=None):
    """Small U-Net: `depth` down/up levels, widths base_channels * 2^i.

    activation: "relu", "sigmoid" or "hardsigmoid" (every conv block);
    up: "transpose" (ConvTranspose2d stride 2) or "nearest" (Resize).
    mid_channels: per conv block, the channels between its convs (pruned models).
    Output: per-pixel class logits [N, num_classes, H, W].
    """
    return UNet(in_channels=in_channels, num_classes=num_classes, base_channels=base_channels,
                depth=depth, activation=activation, saf=saf, up=up, mid_channels=mid_channels)


def unet_conv_blocks(model):
    """The U-Net's conv blocks in mid_channels order: encoders, bottleneck, decoders."""
    return list(model.encoders) + [model.bottleneck] + list(model.decoders)


def prune_unet_channels(model, sparsity):
    """Structured channel pruning by filter norm: in every conv block, the fraction `sparsity` of
    the first conv's filters with the smallest L1 norm (at least one filter kept) is removed with
    its BatchNorm channel and the second conv's matching input channels. Block outputs, and so the
    skips, the upsampling and the head, keep their widths. Returns a new U-Net (eval mode) whose
    outputs the removed channels no longer feed; the input model is unchanged.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    blocks = unet_conv_blocks(model)
    keep = []
    for block in blocks:
        norms = block.conv1.weight.detach().abs().sum(dim=(1, 2, 3))
        count = max(1, int(round(norms.numel() * (1.0 - sparsity))))
        # The largest norms, back in channel order (ties to the lower index: a stable sort).
        order = torch.argsort(-norms, stable=True)[:count]
        keep.append(torch.sort(order).values)
    first = blocks[0].conv1
    pruned = UNet(in_channels=first.in_channels, num_classes=model.head.out_channels,
                  base_channels=blocks[0].conv2.out_channels, depth=model.depth, activation=model.activation,
                  saf=model.saf, up=model.up_mode, mid_channels=[len(k) for k in keep])
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    for index, (block, kept) in enumerate(zip(blocks, keep)):
        prefix = ("encoders.%d" % index if index < model.depth else "bottleneck" if index == model.depth
                  else "decoders.%d" % (index - model.depth - 1))
        state[prefix + ".conv1.weight"] = block.conv1.weight.detach()[kept].clone()
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[prefix + ".bn1." + name] = getattr(block.bn1, name).detach()[kept].clone()
        state[prefix + ".conv2.weight"] = block.conv2.weight.detach()[:, kept].clone()
    pruned.load_state_dict(state)
    return pruned.eval()


MODEL_BUILDERS = {
    "resnet20": resnet20,
    "resnet18": resnet18,
    "unet": unet,
}

# Input shape (C, H, W) each model expects.
MODEL_INPUT_SHAPES = {
    "resnet20": (3, 32, 32),
    "resnet18": (3, 224, 224),
    "unet": (1, 32, 32),
}
