#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the project's own files.

    /usr/bin/python3 fuzz/make_corpus.py            # from the repository root

Sources: the ONNX conformance models of libonnx-testdata that use only ops flipsweep supports
(each well under 1 KB) plus tiny models built here with onnx.helper for every importer path
(constant inputs, Constant nodes, SAF chains, opset variants, an external-data tensor); the
first images of the Debian Fashion-MNIST files (plain and gzip); CIFAR records and tensor
caches built here; configs/*.yaml with model paths pointed at the fuzzers' fixtures; the first
rows of results/fashion-mnist/*/trials.csv and clean.csv; and regression_* inputs that showed
bugs the fuzzers found (each also a test in tests/input_limits_test.cpp). Deterministic: running
it again gives the same files. What a fuzzer learns in a long run stays in that run's own corpus
folder (docs/FUZZING.md); only these seeds are committed.
"""
import glob
import gzip
import os
import re
import shutil
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
SEPARATOR = b"\n--flipsweep-fuzz-next-file--\n"  # fuzz/fuzz_support.h, kFileSeparator
SUPPORTED_OPS = {
    "Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "Tanh",
    "Softsign", "Atan", "Add", "Sub", "Mul", "Div", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten",
    "Reshape", "Gemm", "MatMul", "Concat", "Resize", "Pad", "Identity", "Constant", "HardSwish", "Softmax",
    "ReduceMean", "Transpose", "Dropout", "Slice", "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Split",
}


def target_dir(target):
    """The target's corpus folder, emptied: every file in it is written by this script."""
    path = os.path.join(CORPUS, target)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gzip_bytes(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---- ONNX ---------------------------------------------------------------------------------------

def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def model(nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, "fuzz", inputs, outputs, list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="flipsweep-fuzz")
    m.ir_version = 7
    return m.SerializeToString()


def fvalue(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def onnx_seeds(folder):
    rng = np.random.default_rng(1)
    w = lambda *shape: rng.standard_normal(shape).astype(np.float32).round(2)
    seeds = {}
    # Conv -> BatchNorm -> Relu -> pool -> Flatten -> Gemm, the shape of the committed ResNets.
    seeds["small_cnn"] = model(
        [helper.make_node("Conv", ["x", "conv.weight"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1], name="conv"),
         helper.make_node("BatchNormalization", ["c", "bn.weight", "bn.bias", "bn.mean", "bn.var"], ["b"], epsilon=1e-5),
         helper.make_node("Relu", ["b"], ["r"]),
         helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("GlobalAveragePool", ["p"], ["g"]),
         helper.make_node("Flatten", ["g"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)],
        [fvalue("x", ["N", 1, 4, 4])], [fvalue("y", ["N", 3])],
        [tensor("conv.weight", w(2, 1, 3, 3)), tensor("bn.weight", w(2)), tensor("bn.bias", w(2)),
         tensor("bn.mean", w(2)), tensor("bn.var", np.abs(w(2)) + 1), tensor("fc.weight", w(3, 2)),
         tensor("fc.bias", w(3))])
    # An SAF on the weights as weight-only nodes (python/export_onnx.py): Tanh(0.5 * W).
    seeds["saf_chain"] = model(
        [helper.make_node("Mul", ["conv.weight", "half"], ["ws"]), helper.make_node("Tanh", ["ws"], ["wt"]),
         helper.make_node("Conv", ["x", "wt"], ["y"], kernel_shape=[1, 1], auto_pad="SAME_UPPER")],
        [fvalue("x", [1, 2, 3, 3])], [fvalue("y", [1, 2, 3, 3])],
        [tensor("conv.weight", w(2, 2, 1, 1)), tensor("half", np.float32(0.5))])
    # Deduplicated initializer through Identity, Softsign/Atan/HardSigmoid/LeakyRelu/Sigmoid, Add/Sub/Div.
    seeds["identity_and_activations"] = model(
        [helper.make_node("Identity", ["b"], ["b2"]), helper.make_node("Softsign", ["x"], ["s"]),
         helper.make_node("Atan", ["s"], ["a"]), helper.make_node("HardSigmoid", ["a"], ["h"], alpha=0.2, beta=0.5),
         helper.make_node("LeakyRelu", ["h"], ["l"], alpha=0.1), helper.make_node("Sigmoid", ["l"], ["q"]),
         helper.make_node("Add", ["q", "b"], ["u"]), helper.make_node("Sub", ["u", "b2"], ["v"]),
         helper.make_node("Div", ["v", "b"], ["y"])],
        [fvalue("x", [2, 3])], [fvalue("y", [2, 3])], [tensor("b", w(3) + 2)])
    # Constant nodes of every form; Reshape's shape and Clip's bounds as constant inputs.
    seeds["constants_reshape_clip"] = model(
        [helper.make_node("Constant", [], ["shape"], value=tensor("shape_value", np.array([-1, 6], np.int64))),
         helper.make_node("Constant", [], ["lo"], value_float=-1.0),
         helper.make_node("Constant", [], ["hi"], value_floats=[1.0]),
         helper.make_node("Constant", [], ["unused_int"], value_int=3),
         helper.make_node("Constant", [], ["unused_ints"], value_ints=[1, 2]),
         helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Clip", ["r", "lo", ""], ["y"])],
        [fvalue("x", [1, 2, 3])], [fvalue("y", [1, 6])])
    # Clip before opset 11 (attributes), Pad before opset 11 (attributes), Upsample-style Resize (opset 10).
    seeds["opset10"] = model(
        [helper.make_node("Clip", ["x"], ["c"], min=-0.5, max=0.5),
         helper.make_node("Pad", ["c"], ["p"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant", value=0.25),
         helper.make_node("Resize", ["p", "scales"], ["y"], mode="nearest")],
        [fvalue("x", [1, 1, 2, 2])], [fvalue("y", [1, 1, 8, 8])],
        [tensor("scales", np.array([1, 1, 2, 2], np.float32))], opset=10)
    # Pad with constant inputs (opset 13) and axes (opset 18), reflect and edge.
    seeds["pad_inputs"] = model(
        [helper.make_node("Pad", ["x", "pads", "value"], ["p"], mode="constant"),
         helper.make_node("Pad", ["p", "pads2", "", "axes"], ["q"], mode="reflect"),
         helper.make_node("Pad", ["q", "pads2", "", "axes"], ["y"], mode="edge")],
        [fvalue("x", [1, 1, 3, 3])], [fvalue("y", [1, 1, 5, 9])],
        [tensor("pads", np.array([0, 0, 1, 0, 0, 0, -1, 1], np.int64)), tensor("value", np.array([0.5], np.float32)),
         tensor("pads2", np.array([1, 1], np.int64)), tensor("axes", np.array([3], np.int64))], opset=18)
    # Resize by sizes and by scales; scales as a Concat of Constant nodes (torch.onnx's Upsample).
    seeds["resize_concat"] = model(
        [helper.make_node("Constant", [], ["s0"], value=tensor("s0v", np.array([1, 1], np.float32))),
         helper.make_node("Constant", [], ["s1"], value=tensor("s1v", np.array([2, 2], np.float32))),
         helper.make_node("Concat", ["s0", "s1"], ["scales"], axis=0),
         helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="linear", coordinate_transformation_mode="align_corners"),
         helper.make_node("Resize", ["r", "", "", "sizes"], ["y"], mode="nearest", nearest_mode="floor",
                          coordinate_transformation_mode="asymmetric"),
         helper.make_node("Concat", ["y", "y"], ["z"], axis=1)],
        [fvalue("x", [1, 1, 2, 3])], [fvalue("z", [1, 2, 3, 5])], [tensor("sizes", np.array([1, 1, 3, 5], np.int64))])
    # ConvTranspose (output_shape, output_padding, group), AveragePool with ceil_mode, MatMul.
    seeds["convtranspose_pool_matmul"] = model(
        [helper.make_node("ConvTranspose", ["x", "wt", "bt"], ["t"], strides=[2, 2], output_padding=[1, 1], group=2),
         helper.make_node("AveragePool", ["t"], ["a"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1,
                          count_include_pad=1, pads=[1, 1, 1, 1]),
         helper.make_node("MatMul", ["a", "m"], ["y"])],
        [fvalue("x", [1, 2, 3, 3])], [fvalue("y", ["N", 2, 4, 2])],
        [tensor("wt", w(2, 1, 2, 2)), tensor("bt", w(2)), tensor("m", w(4, 2))])
    # Conv 1-D and 3-D, dilations, SAME_LOWER, group; Gemm with transA and a broadcast C; MaxPool dilations.
    seeds["conv_variants"] = model(
        [helper.make_node("Conv", ["x", "w1"], ["c1"], dilations=[2], auto_pad="SAME_LOWER", group=2),
         helper.make_node("MaxPool", ["c1"], ["m"], kernel_shape=[2], dilations=[2], strides=[1]),
         helper.make_node("Flatten", ["m"], ["f"], axis=0),
         helper.make_node("Gemm", ["f", "g", "gc"], ["y"], transA=1, alpha=0.5, beta=2.0),
         helper.make_node("Conv", ["v", "w3"], ["z"], strides=[1, 2, 1], pads=[0, 1, 0, 0, 1, 0])],
        [fvalue("x", [1, 2, 8]), fvalue("v", [1, 1, 2, 3, 2])], [fvalue("y", [1, 3]), fvalue("z", [1, 1, 1, 2, 2])],
        [tensor("w1", w(2, 1, 3)), tensor("g", w(1, 3)), tensor("gc", w(3)), tensor("w3", w(1, 1, 2, 2, 1))])
    # Initializer data in the typed fields (float_data, int64_data, int32_data, double_data), not raw_data.
    typed = [helper.make_tensor("wf", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0]),
             helper.make_tensor("shape", TensorProto.INT64, [2], [4, 1]),
             helper.make_tensor("d", TensorProto.DOUBLE, [1], [0.5]),
             helper.make_tensor("i32", TensorProto.INT32, [1], [7])]
    seeds["typed_fields"] = model(
        [helper.make_node("MatMul", ["x", "wf"], ["m"]), helper.make_node("Mul", ["m", "d"], ["q"]),
         helper.make_node("Reshape", ["q", "shape"], ["y"])],
        [fvalue("x", [2, 2])], [fvalue("y", [4, 1])], typed)
    # An initializer whose data lives in an external file (refused: docs/FUZZING.md).
    ext = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 2])
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="weights.bin")
    ext.external_data.add(key="offset", value="0")
    ext.external_data.add(key="length", value="16")
    seeds["external_data"] = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [fvalue("x", [1, 2])],
                                   [fvalue("y", [1, 2])], [ext])
    # HardSwish, Transpose, ReduceMean (attribute axes, keepdims), Dropout (inference), Softmax.
    seeds["transpose_reduce_softmax"] = model(
        [helper.make_node("HardSwish", ["x"], ["h"]), helper.make_node("Transpose", ["h"], ["t"], perm=[0, 2, 3, 1]),
         helper.make_node("ReduceMean", ["t"], ["r"], axes=[1, 2], keepdims=0),
         helper.make_node("Dropout", ["r"], ["d"]), helper.make_node("Softmax", ["d"], ["y"], axis=-1)],
        [fvalue("x", [1, 3, 2, 2])], [fvalue("y", [1, 3])])
    # ReduceMean with axes as an input (opset 18), Softmax before opset 13 (2-D coercion).
    seeds["reduce_axes_input_opset18"] = model(
        [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)], [fvalue("x", [1, 2, 3])],
        [fvalue("y", [1, 1, 3])], [tensor("axes", np.array([1], np.int64))], opset=18)
    seeds["softmax_opset11"] = model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=1)], [fvalue("x", [2, 3, 4])], [fvalue("y", [2, 3, 4])],
        opset=11)
    # Shape arithmetic folded at load (torch's x.view(x.size(0), -1) and a channel shuffle with
    # Split/Slice), Unsqueeze/Squeeze/Cast of data.
    i64 = lambda name, values: tensor(name, np.array(values, np.int64))  # noqa: E731
    seeds["shape_arithmetic_shuffle"] = model(
        [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
         helper.make_node("Gather", ["s", "i1"], ["c"]), helper.make_node("Div", ["c", "two"], ["g"]),
         helper.make_node("Cast", ["g"], ["gi"], to=TensorProto.INT64),
         helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]), helper.make_node("Unsqueeze", ["gi", "axes"], ["g1"]),
         helper.make_node("Concat", ["n1", "two1", "g1", "rest"], ["t5"], axis=0),
         helper.make_node("Reshape", ["x", "t5"], ["r"]), helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
         helper.make_node("Concat", ["n1", "minus1"], ["t2"], axis=0), helper.make_node("Reshape", ["t", "t2"], ["f"]),
         helper.make_node("Split", ["f", "halves"], ["a", "b"], axis=1),
         helper.make_node("Slice", ["b", "starts", "ends", "sl_axes", "steps"], ["bs"]),
         helper.make_node("Unsqueeze", ["bs", "axes2"], ["u"]), helper.make_node("Squeeze", ["u", "axes2"], ["q"]),
         helper.make_node("Cast", ["q"], ["y"], to=TensorProto.FLOAT)],
        [fvalue("x", [1, 4, 3])], [fvalue("y", [1, 3])],
        [i64("i0", 0), i64("i1", 1), i64("two", 2), i64("axes", [0]), i64("two1", [2]), i64("rest", [-1]),
         i64("minus1", [-1]), i64("halves", [6, 6]), i64("starts", [-1]), i64("ends", [-10]), i64("sl_axes", [1]),
         i64("steps", [-2]), i64("axes2", [2])])
    # Found by onnx_import_fuzzer: a shape error during import did not name the model file.
    seeds["regression_pad_reflect_error_names_file"] = model(
        [helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")], [fvalue("x", [1, 1, 2, 4])],
        [fvalue("y", [1, 1, 5, 7])], [tensor("pads", np.array([0, 0, 0, 2, 0, 0, 3, 1], np.int64))])
    # Found by onnx_import_fuzzer: a nameless integer initializer stood in for a Slice's omitted data
    # input ("" means omitted) and the shape folding read past an empty input list.
    seeds["regression_nameless_initializer"] = model(
        [helper.make_node("Slice", ["", "starts", "ends"], ["s"]), helper.make_node("Relu", ["x"], ["y"])],
        [fvalue("x", [1, 4])], [fvalue("y", [1, 4])], [i64("", [3, 4]), i64("starts", [0]), i64("ends", [1])])
    for name, data in seeds.items():
        write(folder, "gen_" + name + ".onnx", data)

    # ONNX's conformance models of supported ops (the importer's tests run the same files).
    testdata = "/usr/share/libonnx-testdata/data"
    for suite in ("node", "pytorch-converted", "pytorch-operator", "simple"):
        for path in sorted(glob.glob(os.path.join(testdata, suite, "*", "model.onnx"))):
            if os.path.getsize(path) > 1024:
                continue
            m = onnx.load(path)
            if {n.op_type for n in m.graph.node} <= SUPPORTED_OPS:
                case = os.path.basename(os.path.dirname(path))
                shutil.copyfile(path, os.path.join(folder, "onnx_testdata_" + suite.replace("-", "_") + "_" + case + ".onnx"))


# ---- datasets -----------------------------------------------------------------------------------

def idx_pair(images, labels):
    count, rows, cols = images.shape
    head = struct.pack(">IIII", 0x803, count, rows, cols)
    return head + images.tobytes(), struct.pack(">II", 0x801, count) + labels.tobytes()


def idx_seeds(folder):
    fm = "/usr/share/datasets/fashion-mnist"
    with gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read(16 + 3 * 28 * 28)
    with gzip.open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")) as f:
        raw_labels = f.read(8 + 3)
    images = np.frombuffer(raw[16:], np.uint8).reshape(3, 28, 28)
    labels = np.frombuffer(raw_labels[8:], np.uint8)
    img, lab = idx_pair(images, labels)
    write(folder, "fashion_mnist_3_images", img + SEPARATOR + lab)
    write(folder, "fashion_mnist_3_images_gzip", gzip_bytes(img) + SEPARATOR + gzip_bytes(lab))
    write(folder, "fashion_mnist_gzip_images_plain_labels", gzip_bytes(img) + SEPARATOR + lab)
    tiny, tiny_labels = idx_pair(np.arange(8, dtype=np.uint8).reshape(2, 2, 2) * 30, np.array([0, 9], np.uint8))
    write(folder, "tiny_2x2", tiny + SEPARATOR + tiny_labels)
    # Found by idx_fuzzer: rows * cols overflowed int64 (tests/input_limits_test.cpp).
    overflow = struct.pack(">IIII", 0x803, 1, 2223522835, 4226863524) + b"\x10" * 4
    write(folder, "regression_rows_times_cols_overflow", overflow + SEPARATOR + struct.pack(">II", 0x801, 1) + b"\x01")
    # Two gzip members in one file (gzip -d accepts them).
    write(folder, "tiny_2x2_two_gzip_members", gzip_bytes(tiny[:10]) + gzip_bytes(tiny[10:]) + SEPARATOR + tiny_labels)


def cifar_record(labels, seed):
    rng = np.random.default_rng(seed)
    return bytes(labels) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()


def cifar_seeds(folder):
    # First byte: 0 CIFAR-10, 1 CIFAR-100 fine, 2 CIFAR-100 coarse (cifar_fuzzer.cpp).
    c10 = cifar_record([3], 1) + cifar_record([9], 2)
    c100 = cifar_record([19, 99], 3) + cifar_record([0, 42], 4)
    write(folder, "cifar10_2_records", b"\x00" + c10)
    write(folder, "cifar10_two_files", b"\x00" + c10 + SEPARATOR + cifar_record([1], 5))
    write(folder, "cifar100_fine", b"\x01" + c100)
    write(folder, "cifar100_coarse_three_files", b"\x02" + c100 + SEPARATOR + c100[:3074] + SEPARATOR + c100[3074:])


def tensor_cache(channels, height, width, labels, num_classes, seed):
    rng = np.random.default_rng(seed)
    count = len(labels)
    head = b"FSWPTC01" + struct.pack("<IIIIQII", 1, channels, height, width, count, num_classes, 0)
    body = struct.pack("<%di" % count, *labels)
    return head + body + rng.integers(0, 256, count * channels * height * width, dtype=np.uint8).tobytes()


def segmentation_cache(channels, height, width, labels, num_classes, seed):
    """Version 2: the version-1 layout with version = 2, then one uint8 mask per image (255 = ignore)."""
    rng = np.random.default_rng(seed)
    count = len(labels)
    v1 = tensor_cache(channels, height, width, labels, num_classes, seed)
    masks = rng.integers(0, num_classes, count * height * width, dtype=np.uint8)
    masks[::7] = 255
    return v1[:8] + struct.pack("<I", 2) + v1[12:] + masks.tobytes()


def tensor_cache_seeds(folder):
    write(folder, "rgb_3x4x4_3_images", tensor_cache(3, 4, 4, [0, 999, 5], 1000, 1))
    write(folder, "gray_1x28x28_1_image", tensor_cache(1, 28, 28, [7], 10, 2))
    write(folder, "one_pixel_2_images", tensor_cache(1, 1, 1, [0, 1], 2, 3))
    write(folder, "segmentation_v2_1x8x8_2_images", segmentation_cache(1, 8, 8, [3, 0], 11, 4))
    write(folder, "segmentation_v2_3x4x6_1_image", segmentation_cache(3, 4, 6, [1], 3, 5))


# ---- configs ------------------------------------------------------------------------------------

FIXTURE_DATASETS = [
    "{format: idx, paths: [images.idx, labels.idx], preprocess: {mean: [0.2860], std: [0.3530], pad: 2, channels: 3}}",
    "{format: cifar10, paths: [cifar10.bin, cifar10.bin], limit: 3, preprocess: {mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}",
    "{spec: 'cifar100-coarse:cifar100.bin', preprocess: {resize: [5, 3]}}",
    "{format: tensor-cache, paths: [cache.fswptc], preprocess: {pad: 1, pad_value: 255, resize: [4, 4]}}",
    "'idx:images.idx,labels.idx'",
]


def point_at_fixtures(text):
    """Model paths -> model.onnx, the fuzzers' fixture (configs are checked for the model's existence)."""
    return re.sub(r"path: [^,}\n]+\.onnx", "path: model.onnx", text)


def config_seeds(campaign_folder, eval_folder):
    # Each committed config as it is, and pointed at the fixtures: the demo configs with every
    # fixture dataset, the others with one each.
    for n, path in enumerate(sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))):
        text = open(path, "rb").read().decode()
        name = os.path.splitext(os.path.basename(path))[0]
        folder = eval_folder if name.endswith("_eval") else campaign_folder
        write(folder, name + ".yaml", text.encode())
        fixed = point_at_fixtures(text).replace("model: ../models/fashion-mnist/resnet20_none.onnx", "model: model.onnx")
        chosen = range(len(FIXTURE_DATASETS)) if name.startswith("demo") else [n % len(FIXTURE_DATASETS)]
        for i in chosen:
            out = re.sub(r"dataset:\n(  .*\n)+", "dataset: " + FIXTURE_DATASETS[i] + "\n", fixed)
            write(folder, "%s_fixture_dataset_%d.yaml" % (name, i), out.encode())
    write(campaign_folder, "exact_faults.yaml", (
        "name: exact\nber: 0\nformats: [fp32, bf16, int8, q3.4]\nmodels: [{path: model.onnx, saf: tanh, apply_saf: true}]\n"
        "dataset: 'tensor-cache:cache.fswptc'\nfaults: {model: exact, tensor: conv1.weight, bit: 30, count: 2}\n"
        "targets: {roles: [conv-weight, bias, batchnorm-affine, batchnorm-stats, other], include: ['layer*'], "
        "exclude: ['*.bias'], bits: '0-3,30'}\nseed: 18446744073709551615\nthreads: 0\ndevice: 0\ntf32: true\n"
        "trials_in_flight: 4\nshortcuts: false\nbackend: host-plan\nbatch_size: 1\n").encode())
    write(campaign_folder, "stuck_at.yaml", (
        "ber: [0.5, 1e-3]\ntrials: 2\nformats: [fp16]\nmodels:\n  - {name: a, path: model.onnx, saf: softsign}\n"
        "  - {name: b, path: model.onnx, saf: none}\ndataset: 'idx:images.idx,labels.idx'\n"
        "faults: {model: stuck-at}\ntargets: {bits: exponent}\n").encode())
    # Found by campaign_config_fuzzer (tests/input_limits_test.cpp): a dataset format error that did
    # not name the config, and a model name too long to check.
    write(campaign_folder, "regression_unknown_dataset_format.yaml", (
        "ber: 1e-5\nformats: [fp32]\nmodels: [{path: model.onnx}]\ndataset: {format: cifap10, paths: [cifar10.bin]}\n").encode())
    write(campaign_folder, "regression_model_name_too_long.yaml", (
        "ber: 1e-5\nformats: [fp32]\nmodels: [{path: " + "m" * 300 + ".onnx}]\ndataset: 'idx:images.idx,labels.idx'\n").encode())
    write(eval_folder, "all_fields.yaml", (
        "model: model.onnx\ndataset: {format: cifar100, paths: [cifar100.bin], limit: 1, "
        "preprocess: {mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2], pad: 4, pad_value: 0, resize: [8, 8], channels: 3}}\n"
        "batch_size: 2\nthreads: 1\ntile: 1\nkernels: reference\nbackend: cpu\ndevice: 0\ntf32: false\n").encode())


# ---- result CSVs --------------------------------------------------------------------------------

def csv_seeds(folder):
    for run in ("table1", "ber-sweep"):
        base = os.path.join(ROOT, "results", "fashion-mnist", run)
        trials = open(os.path.join(base, "trials.csv"), "rb").read().split(b"\n")
        clean = open(os.path.join(base, "clean.csv"), "rb").read()
        write(folder, run + "_first_rows", b"\n".join(trials[:8]) + b"\n" + SEPARATOR + clean)
    header_v1 = b"config,format,saf,ber,trial,top1,top5,sdc,flips,nonfinite,all_nan,seconds,flips_per_tensor"
    row = b"none/fp32,fp32,none,1e-05,0,10.2000,61.9500,89.8000,3,1,0,1.218,conv1.weight:2;fc.weight:1"
    write(folder, "with_shortcut_column",
          header_v1 + b",shortcut\n" + row + b",none\n" + row.replace(b",0,10.2", b",1,10.2") + b",clean\n" +
          row.replace(b"1e-05", b"0.0001") + b",same-as-ber:1e-05\n" + row[:30] + SEPARATOR +
          b"config,format,saf,top1,top5,images,backend\nnone/fp32,fp32,none,92.0000,100.0000,2000,\"cpu, 2 threads\"\n"
          b"none/fp16,fp16,none,92.0000,100.0000,2000,cpu\n")
    write(folder, "nan_inf_values", header_v1 + b"\n" + row.replace(b"10.2000", b"nan") + b"\n" +
          row.replace(b"10.2000", b"inf") + b"\n" + SEPARATOR + b"config,format,saf,top1,top5,images\n")


# ---- images for `flipsweep cache` ---------------------------------------------------------------

def image_seeds(folder):
    """Small JPEGs of each kind the decoder handles (4:2:0, 4:2:2, 4:4:4, progressive, gray, CMYK,
    odd sizes) and PNGs of each colour type, through Pillow; deterministic pixels and encoders."""
    import io

    from PIL import Image
    y, x = np.mgrid[0:37, 0:45]
    rgb = np.stack([(x * 5 + y * 3) % 256, (x * 11) % 256, (y * 7 + 40) % 256], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")

    def encoded(img, kind, **options):
        out = io.BytesIO()
        img.save(out, kind, **options)
        return out.getvalue()

    write(folder, "jpeg_420_45x37", encoded(image, "JPEG", quality=80))
    write(folder, "jpeg_422", encoded(image, "JPEG", quality=90, subsampling=1))
    write(folder, "jpeg_444", encoded(image, "JPEG", quality=90, subsampling=0))
    write(folder, "jpeg_progressive", encoded(image, "JPEG", quality=75, progressive=True))
    write(folder, "jpeg_gray", encoded(image.convert("L"), "JPEG", quality=85))
    write(folder, "jpeg_cmyk", encoded(image.convert("CMYK"), "JPEG", quality=85))
    write(folder, "jpeg_odd_17x300", encoded(image.resize((17, 300)), "JPEG", quality=70))
    write(folder, "png_rgb", encoded(image, "PNG"))
    write(folder, "png_rgba", encoded(image.convert("RGBA"), "PNG"))
    write(folder, "png_gray", encoded(image.convert("L"), "PNG"))
    write(folder, "png_la", encoded(image.convert("LA"), "PNG"))
    write(folder, "png_palette_trns", encoded(image.quantize(16), "PNG", transparency=3))
    write(folder, "png_1bit", encoded(image.convert("1"), "PNG"))


def main():
    onnx_seeds(target_dir("onnx_import_fuzzer"))
    idx_seeds(target_dir("idx_fuzzer"))
    cifar_seeds(target_dir("cifar_fuzzer"))
    tensor_cache_seeds(target_dir("tensor_cache_fuzzer"))
    config_seeds(target_dir("campaign_config_fuzzer"), target_dir("eval_config_fuzzer"))
    csv_seeds(target_dir("results_csv_fuzzer"))
    image_seeds(target_dir("image_decode_fuzzer"))
    total = 0
    for target in sorted(os.listdir(CORPUS)):
        files = glob.glob(os.path.join(CORPUS, target, "*"))
        size = sum(os.path.getsize(f) for f in files)
        total += size
        print("%-24s %4d files %8d bytes" % (target, len(files), size))
    print("%-24s %4s       %8d bytes" % ("total", "", total))


if __name__ == "__main__":
    main()
