#!/usr/bin/python3
"""Exports a flipsweep model to ONNX in the form the C++ importer expects.

Usage as a library:
    from export_onnx import export
    export(model.eval(), torch.randn(1, 3, 32, 32), "model.onnx")

Usage from the shell (random weights unless --checkpoint is given):
    /usr/bin/python3 python/export_onnx.py --model resnet20 --saf tanh --out m.onnx
    /usr/bin/python3 python/export_onnx.py --model resnet18 --checkpoint r18.pt --out r18.onnx
    /usr/bin/python3 python/export_onnx.py --model unet --activation hardsigmoid --up nearest --out u.onnx

What the export guarantees, and why:
  * opset 13; input "input", output "logits", batch axis dynamic ("batch"),
    so one file serves every batch size the campaign picks.
  * do_constant_folding=False: folding would precompute tau(W) into a new
    anonymous initializer, destroying the raw weights the faults target.
  * BatchNormalization stays a separate node.  In eval mode torch 1.13 runs
    torch._C._jit_pass_onnx_eval_peephole, which folds BN into the preceding
    conv's weights; that would rename/alter the stored parameters and hide the
    BN parameters (also fault targets).  We disable that pass for the duration
    of the export and assert the BN node count afterwards.
  * initializer names are the state_dict names.  torch deduplicates identical
    initializers (e.g. two all-zero running_mean buffers) by routing one name
    through an Identity node; such names count as present.
  * only ops the importer supports appear, Resize's scales/sizes are known at load
    or initializers (the importer reads them at load), and the file passes
    onnx.checker.
"""

import argparse
import collections
import contextlib
import os
import sys

import onnx
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flipsweep_models  # noqa: E402  (needs the path above)

OPSET_VERSION = 13
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_DIM_NAME = "batch"

# Op types the flipsweep C++ importer understands; anything else is an error
# at export time rather than a surprise at import time.
IMPORTER_SUPPORTED_OPS = frozenset([
    "Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Clip",
    "Sigmoid", "HardSigmoid", "Tanh", "Softsign", "Atan", "Add", "Sub", "Mul",
    "Div", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape",
    "Gemm", "MatMul", "Concat", "Resize", "Identity", "Constant", "Pad", "HardSwish", "Softmax",
    "ReduceMean", "Transpose", "Dropout", "Slice",
    # Taken care of at load: shape arithmetic is evaluated (the batch size stays free), Unsqueeze/
    # Squeeze/Cast of data become Reshape/Identity, Split becomes one Slice per output.
    "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Split",
])


class ExportCheckError(RuntimeError):
    """The exported graph does not meet one of the guarantees above."""


@contextlib.contextmanager
def _batchnorm_fusion_disabled():
    """Temporarily turns torch's eval-mode conv+BN fusion pass into a no-op.

    torch.onnx.utils calls `_C._jit_pass_onnx_eval_peephole(graph, params)`
    through the module object torch._C, so replacing the attribute there
    affects the export; it is restored even if the export raises.
    """
    original = torch._C._jit_pass_onnx_eval_peephole

    def keep_params_unchanged(graph, params_dict):
        return params_dict

    torch._C._jit_pass_onnx_eval_peephole = keep_params_unchanged
    try:
        yield
    finally:
        torch._C._jit_pass_onnx_eval_peephole = original


def count_ops(model_proto):
    """Returns {op_type: count} over the top-level graph, sorted by op type."""
    counts = collections.Counter(node.op_type for node in model_proto.graph.node)
    return dict(sorted(counts.items()))


def _count_batchnorm_modules(model):
    return sum(1 for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def _expected_tensor_names(model):
    """state_dict names that must survive: every parameter and buffer that the
    eval-mode forward reads.  num_batches_tracked is only used in training."""
    return [name for name in model.state_dict() if not name.endswith("num_batches_tracked")]


def _saf_weight_names(model):
    """{weight name: saf} for every SAF-wrapped conv/conv-transpose/linear with an SAF."""
    names = {}
    for module_name, module in model.named_modules():
        if isinstance(module, flipsweep_models.SAF_MODULE_TYPES) and module.saf is not None:
            names[f"{module_name}.weight"] = module.saf
    return names


def trace_saf_chain(model_proto, weight_name):
    """Follows the nodes from `weight_name` until the first Conv/Gemm/MatMul.

    Returns the list of nodes on the way (the SAF subgraph), excluding the
    consuming Conv/Gemm, plus that consumer.  Constant inputs are not walked.
    """
    consumers = collections.defaultdict(list)
    for node in model_proto.graph.node:
        for name in node.input:
            consumers[name].append(node)
    chain = []
    current = weight_name
    while True:
        users = consumers.get(current, [])
        if len(users) != 1:
            raise ExportCheckError(
                f"{weight_name}: expected one consumer of {current!r}, found "
                f"{[n.op_type for n in users]}")
        node = users[0]
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            return chain, node
        chain.append(node)
        current = node.output[0]


def verify_export(model, model_proto):
    """Checks the guarantees listed in the module docstring; raises on failure.

    Returns a dict with the op counts and the SAF chains, for printing.
    """
    onnx.checker.check_model(model_proto)
    graph = model_proto.graph
    ops = count_ops(model_proto)

    unsupported = sorted(set(ops) - IMPORTER_SUPPORTED_OPS)
    if unsupported:
        raise ExportCheckError(f"ops the importer does not support: {unsupported}")

    expected_bn = _count_batchnorm_modules(model)
    if ops.get("BatchNormalization", 0) != expected_bn:
        raise ExportCheckError(
            f"{ops.get('BatchNormalization', 0)} BatchNormalization nodes for "
            f"{expected_bn} BatchNorm modules: BN was fused or dropped")

    initializer_names = {init.name for init in graph.initializer}
    # The importer folds Resize's scales/sizes into the op at load time, so they must be a
    # Constant, an initializer, or a Concat of Constants (torch's own nn.Upsample export, which
    # the importer evaluates at load; flipsweep_models.NearestUpsample2d exports one Constant).
    constant_outputs = {node.output[0] for node in graph.node if node.op_type == "Constant"}
    constant_outputs |= {node.output[0] for node in graph.node
                         if node.op_type == "Concat" and all(i in constant_outputs for i in node.input)}
    for node in graph.node:
        if node.op_type != "Resize":
            continue
        for position, role in ((2, "scales"), (3, "sizes")):
            if position < len(node.input) and node.input[position] and \
                    node.input[position] not in constant_outputs | initializer_names:
                raise ExportCheckError(
                    f"Resize {node.name}: {role} {node.input[position]!r} is computed in the "
                    f"graph; the importer needs a Constant, an initializer or a Concat of Constants")
    identity_outputs = {node.output[0] for node in graph.node if node.op_type == "Identity"}
    missing = [name for name in _expected_tensor_names(model)
               if name not in initializer_names and name not in identity_outputs]
    if missing:
        raise ExportCheckError(f"state_dict names missing from the ONNX graph: {missing}")

    if [i.name for i in graph.input] != [INPUT_NAME] or \
            [o.name for o in graph.output] != [OUTPUT_NAME]:
        raise ExportCheckError(
            f"graph inputs/outputs are {[i.name for i in graph.input]} -> "
            f"{[o.name for o in graph.output]}, expected [{INPUT_NAME}] -> [{OUTPUT_NAME}]")
    for value in (graph.input[0], graph.output[0]):
        batch_dim = value.type.tensor_type.shape.dim[0]
        if batch_dim.dim_param != BATCH_DIM_NAME:
            raise ExportCheckError(f"{value.name}: batch axis is not dynamic ({batch_dim})")

    saf_chains = {}
    for weight_name, saf in _saf_weight_names(model).items():
        chain, consumer = trace_saf_chain(model_proto, weight_name)
        chain_ops = [node.op_type for node in chain]
        if chain_ops != flipsweep_models.SAF_ONNX_OPS[saf]:
            raise ExportCheckError(
                f"{weight_name}: saf {saf!r} exported as {chain_ops}, expected "
                f"{flipsweep_models.SAF_ONNX_OPS[saf]}")
        if consumer.input[1] != chain[-1].output[0]:
            raise ExportCheckError(f"{weight_name}: tau(W) is not the weight input of "
                                   f"{consumer.op_type} {consumer.name}")
        saf_chains[weight_name] = (chain, consumer)

    return {"ops": ops, "saf_chains": saf_chains}


def export(model, example_input, path, verbose=True):
    """Exports `model` (must be in eval mode) to `path` and verifies the file.

    Returns the loaded onnx.ModelProto.
    """
    training_modules = [name or "<root>" for name, m in model.named_modules() if m.training]
    if training_modules:
        # Exporting in training mode would emit training-mode BatchNormalization.
        raise ValueError(f"call model.eval() before export; training: {training_modules[:5]}")

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Written beside the target and renamed only once verified: a failed export (an unsupported
    # op, a check below) leaves no .onnx behind, and never half a file.
    temporary = path + ".tmp"
    try:
        model_proto = _export_and_verify(model, example_input, temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    os.replace(temporary, path)
    if verbose:
        print_summary(path, model_proto.summary)
    return model_proto.proto


class _Verified:
    def __init__(self, proto, summary):
        self.proto, self.summary = proto, summary


def _export_and_verify(model, example_input, path):
    with torch.no_grad(), _batchnorm_fusion_disabled():
        torch.onnx.export(
            model,
            (example_input,),
            path,
            export_params=True,
            opset_version=OPSET_VERSION,
            do_constant_folding=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_DIM_NAME}, OUTPUT_NAME: {0: BATCH_DIM_NAME}},
            training=torch.onnx.TrainingMode.EVAL,
        )

    model_proto = onnx.load(path)
    return _Verified(model_proto, verify_export(model, model_proto))


def print_summary(path, summary):
    print(f"{path}: onnx.checker OK")
    print("  nodes per op type: " +
          ", ".join(f"{op}={n}" for op, n in summary["ops"].items()))
    chains = summary["saf_chains"]
    if chains:
        print(f"  SAF chains on {len(chains)} weights, e.g.:")
        for weight_name in list(chains)[:2]:
            chain, consumer = chains[weight_name]
            steps = " -> ".join(f"{n.op_type}({', '.join(n.input)}) = {n.output[0]}"
                                for n in chain)
            print(f"    {steps} -> {consumer.op_type} {consumer.name}")


def _load_checkpoint(model, checkpoint_path):
    state = torch.load(checkpoint_path, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    # Checkpoints saved from nn.DataParallel prefix every name with "module.".
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    model.load_state_dict(state)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(flipsweep_models.MODEL_BUILDERS), required=True)
    parser.add_argument("--saf", choices=sorted(flipsweep_models.SAF_FUNCTIONS), default=None)
    parser.add_argument("--num-classes", type=int, default=None,
                        help="default: 10 for resnet20, 1000 for resnet18, 2 for unet")
    parser.add_argument("--in-channels", type=int, default=None,
                        help="resnet20 (default 3) and unet (default 1) only")
    parser.add_argument("--activation", choices=sorted(flipsweep_models.UNET_ACTIVATIONS),
                        default=None, help="unet only (default relu)")
    parser.add_argument("--up", choices=flipsweep_models.UNET_UPSAMPLING, default=None,
                        help="unet only (default transpose)")
    parser.add_argument("--checkpoint", default=None,
                        help="state_dict (.pt) to load; random weights otherwise")
    parser.add_argument("--seed", type=int, default=0, help="seed for random weights")
    parser.add_argument("--out", required=True, help="output .onnx path")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    kwargs = {"saf": args.saf}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if args.in_channels is not None:
        if args.model not in ("resnet20", "unet"):
            parser.error("--in-channels applies to resnet20 and unet only")
        kwargs["in_channels"] = args.in_channels
    for option in ("activation", "up"):
        if getattr(args, option) is not None:
            if args.model != "unet":
                parser.error(f"--{option} applies to unet only")
            kwargs[option] = getattr(args, option)
    model = flipsweep_models.MODEL_BUILDERS[args.model](**kwargs)
    if args.checkpoint:
        _load_checkpoint(model, args.checkpoint)
    model.eval()

    channels, height, width = flipsweep_models.MODEL_INPUT_SHAPES[args.model]
    if args.in_channels is not None:
        channels = args.in_channels
    export(model, torch.zeros(1, channels, height, width), args.out)


if __name__ == "__main__":
    main()
