#!/usr/bin/python3
"""python/seed002_report.py on hand-made campaign folders whose every table cell is known.

Usage: seed002_report_test.py SOURCE_DIR. Exit 0: passed; 1: a check failed (printed).
"""
import json
import os
import subprocess
import sys
import tempfile

SOURCE = sys.argv[1]
REPORT = os.path.join(SOURCE, "python", "seed002_report.py")
TRIALS_HEADER = ("config,format,saf,ber,trial,pixel_accuracy,mean_iou,fw_iou,sdc,nan_pixels,flips,nonfinite,all_nan,"
                 "seconds,flips_per_tensor,shortcut,images")
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def trial(config, number, miou, sdc, nan_pixels=0.0, all_nan=0):
    storage = config.split("/")[1]
    return (f"{config},{storage},none,0,{number},90.0,{miou},80.0,{sdc},{nan_pixels},1,0,{all_nan},0.1,"
            f"x:1,,64")


def campaign(folder, trials, faults, cleans):
    write(os.path.join(folder, "trials.csv"), [TRIALS_HEADER] + trials)
    write(os.path.join(folder, "faults.csv"), ["config,ber,trial,tensor,element,bit,kind"] + faults)
    write(os.path.join(folder, "clean.csv"), ["config,format,saf,pixel_accuracy,mean_iou,fw_iou,images,backend"] +
          [f"{c},{c.split('/')[1]},none,91.5,{m},80.0,64,cpu" for c, m in cleans])


def run(root):
    return subprocess.run(["/usr/bin/python3", REPORT, root, os.path.join(root, "models")], capture_output=True,
                          text=True)


with tempfile.TemporaryDirectory() as root:
    # Single flips, relu/fp32 with clean mean IoU 50: unchanged; changed but within a point; critical
    # (40); every pixel NaN. hardsigmoid/fp32 (clean 60): two unchanged trials. relu/int8: one critical
    # flip of a bias's sign bit.
    campaign(os.path.join(root, "single-flip"),
             [trial("relu/fp32", 0, 50.0, 0.0), trial("relu/fp32", 1, 49.5, 0.1), trial("relu/fp32", 2, 40.0, 5.0),
              trial("relu/fp32", 3, "nan", 100.0, 100.0, 1), trial("hardsigmoid/fp32", 0, 60.0, 0.0),
              trial("hardsigmoid/fp32", 1, 60.0, 0.0), trial("relu/int8", 0, 45.0, 2.0)],
             ["relu/fp32,0,0,encoders.0.conv1.weight,3,5,flip", "relu/fp32,0,1,bottleneck.conv2.weight,7,30,flip",
              "relu/fp32,0,2,bottleneck.bn1.weight,1,30,flip", "relu/fp32,0,3,head.bias,0,31,flip",
              "hardsigmoid/fp32,0,0,bottleneck.bn1.weight,1,30,flip", "hardsigmoid/fp32,0,1,head.weight,2,23,flip",
              "relu/int8,0,0,head.bias,4,7,flip"],
             [("relu/fp32", 50.0), ("hardsigmoid/fp32", 60.0), ("relu/int8", 49.0)])
    # Layer-bit: bit 30 in the bottleneck drops 20 points (collapse at ≤ 25), bit 30 in encoder 0 none,
    # bit 3 in decoder 1 (ups.1 belongs to it) one point.
    campaign(os.path.join(root, "layer-bit"),
             [trial("relu/fp32", 0, 30.0, 9.0), trial("relu/fp32", 1, 50.0, 0.0), trial("relu/fp32", 2, 49.0, 0.5),
              trial("relu/fp32", 3, 20.0, 30.0), trial("relu/int8", 0, 30.0, 8.0)],
             ["relu/fp32,0,0,bottleneck.conv1.weight,0,30,flip", "relu/fp32,0,1,encoders.0.bn2.bias,0,30,flip",
              "relu/fp32,0,2,ups.1.weight,0,3,flip", "relu/fp32,0,3,bottleneck.bn2.weight,0,30,flip",
              "relu/int8,0,0,head.bias,0,7,flip"],
             [("relu/fp32", 50.0), ("relu/int8", 49.0)])
    # Ranges: 10 + 4 targeted values (running statistics left out), 3 in [1, 2), 2 of them BN scales.
    write(os.path.join(root, "ranges", "relu.csv"),
          ["parameter,exponent,count", "encoders.0.conv1.weight,-3,9", "encoders.0.conv1.weight,0,1",
           "encoders.0.bn1.weight,0,2", "encoders.0.bn1.weight,1,1", "encoders.0.bn1.bias,-127,1",
           "encoders.0.bn1.running_var,0,50", "encoders.0.bn1.running_mean,4,50"])
    # Models: a trained U-Net's record has no parameter count; its pruned child's gives it.
    test_metrics = {"pixel_accuracy": 91.0, "mean_iou": 49.0, "frequency_weighted_iou": 87.5}
    write(os.path.join(root, "models", "unet_relu.json"),
          [json.dumps({"epochs": 8, "lr": 0.001, "test": test_metrics})])
    write(os.path.join(root, "models", "unet_relu_pruned50.json"),
          [json.dumps({"source_model": "models/mosaics/unet_relu.onnx", "source_parameters": 117243, "parameters": 64019,
                       "sparsity": 0.5, "epochs": 1, "lr": 0.001, "test_after_pruning": {"mean_iou": 7.125},
                       "test": {"pixel_accuracy": 88.9, "mean_iou": 39.9, "frequency_weighted_iou": 85.1}})])
    # BER sweep: summary.csv rows; the second table divides by the fault-free mean IoU.
    write(os.path.join(root, "ber-sweep", "summary.csv"),
          ["config,ber,trials,clean_miou,miou_mean,miou_std", "relu/fp32,1e-05,10,40,30,5", "relu/fp32,1e-06,10,40,39,0.5"])
    result = run(root)
    check(result.returncode == 0, f"report failed: {result.stderr}")
    tables = open(os.path.join(root, "tables.md")).read() if result.returncode == 0 else ""
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in tables.splitlines() if line.startswith("| ")}

    def row_after(heading, key):
        section = tables.split(heading, 1)[1] if heading in tables else ""
        for line in section.splitlines():
            if line.startswith(f"| {key} |"):
                return [cell.strip() for cell in line.split("|")[2:-1]]
        return None

    overall = row_after("## Single flips", "relu/fp32")
    # trials, clean pixel acc., clean mIoU, mIoU after, mean changed pixels, changed %, critical %,
    # collapsed %, NaN %; a NaN mean IoU counts as 0 in the mean: (50 + 49.5 + 40 + 0) / 4.
    check(overall == ["4", "91.50", "50.00", "34.88", "26.2750", "75.00", "50.00", "25.00", "25.00"],
          f"relu/fp32 single-flip row: {overall}")
    check(row_after("## Single flips", "hardsigmoid/fp32")[5:8] == ["0.00", "0.00", "0.00"],
          "hardsigmoid/fp32: no changed, critical or collapsed trial")
    check(row_after("## Single flips", "relu/int8")[5:7] == ["100.00", "100.00"], "relu/int8: one critical trial")
    by_bit = row_after("### By the bit that flipped", "relu/fp32")
    header = [line for line in tables.split("### By the bit that flipped")[1].splitlines()
              if line.startswith("| config |")][0]
    check(header.split("|")[2:6] == [" sign (31) ", " exponent MSB (30) ", " exponent 29-23 ", " mantissa 22-0 "],
          f"fp32 bit columns, most significant first: {header}")
    check(by_bit == ["1/1", "1/2", "–", "0/1"], f"relu/fp32 by bit: {by_bit}")
    check(row_after("### By the bit that flipped", "hardsigmoid/fp32") == ["–", "0/1", "0/1", "–"],
          "hardsigmoid/fp32 by bit")
    check(row_after("### By the kind of parameter", "relu/fp32") == ["0/2", "1/1", "1/1"], "relu/fp32 by kind")
    check(row_after("### By the kind of parameter", "relu/int8") == ["–", "1/1", "–"], "relu/int8 by kind")
    layer_section = tables.split("## Where in the U-Net")[1].split("\n## ")[0]
    layer = [line for line in layer_section.splitlines() if line.startswith("| relu/")]
    check(len(layer) == 6, f"layer-bit: relu/fp32 (bit 30, others) and relu/int8 (bit 7), by region and by kind: {layer}")
    if len(layer) == 6:
        cells = [[cell.strip() for cell in line.split("|")[2:-1]] for line in layer]
        # regions: encoder 0, encoder 1, bottleneck, decoder 0, decoder 1, head
        check(cells[0] == ["30", "0.0 / 0 % (n=1)", "–", "25.0 / 50 % (n=2)", "–", "–", "–"], f"bit 30: {cells[0]}")
        check(cells[1] == ["others", "–", "–", "–", "–", "1.0 / 0 % (n=1)", "–"], f"other bits: {cells[1]}")
        check(cells[2] == ["7", "–", "–", "–", "–", "–", "19.0 / 0 % (n=1)"], f"int8 sign bit: {cells[2]}")
        # kinds: conv weights, biases, BatchNorm
        check(cells[3] == ["30", "20.0 / 0 % (n=1)", "–", "15.0 / 50 % (n=2)"], f"bit 30 by kind: {cells[3]}")
        check(cells[4] == ["others", "1.0 / 0 % (n=1)", "–", "–"], f"other bits by kind: {cells[4]}")
        check(cells[5] == ["7", "–", "19.0 / 0 % (n=1)", "–"], f"int8 sign bit by kind: {cells[5]}")
    check(row_after("## BER sweeps", "relu/fp32") == ["40.00", "39.00 ± 0.50", "30.00 ± 5.00"],
          f"BER row, BERs ascending: {row_after('## BER sweeps', 'relu/fp32')}")
    check(row_after("The same, as a share", "relu/fp32") == ["98", "75"], "BER row as a share of clean")
    check(row_after("## Models", "relu") == ["117243", "8 epochs at lr 0.001", "91.00", "49.00", "87.50", "–"],
          f"models: relu {row_after('## Models', 'relu')}")
    check(row_after("## Models", "relu-p50") == ["64019", "pruned 50 %, 1 epoch(s) at lr 0.001", "88.90", "39.90",
                                                  "85.10", "7.12"], f"models: relu-p50 {row_after('## Models', 'relu-p50')}")
    check(row_after("## Parameter ranges", "relu") == ["14", "3", "21.43", "2", "2^1"], "ranges row")

    # Bad input: trials of a configuration clean.csv does not know; a layer-bit folder without
    # faults.csv. Each is one clear error naming the file, and no table.
    clean_path = os.path.join(root, "single-flip", "clean.csv")
    kept = open(clean_path).read()
    write(clean_path, [line for line in kept.splitlines() if not line.startswith("relu/int8,")])
    os.remove(os.path.join(root, "tables.md"))
    result = run(root)
    check(result.returncode == 1 and "single-flip/clean.csv: no fault-free row for relu/int8" in result.stderr,
          f"clean.csv without relu/int8: exit {result.returncode}, {result.stderr!r}")
    check(not os.path.exists(os.path.join(root, "tables.md")), "a failed report writes no tables.md")
    write(clean_path, kept.splitlines())
    result = run(root)
    check(result.returncode == 0, f"restored clean.csv: {result.stderr}")
    # A layer-bit folder without faults.csv is one clear error naming it, and no table.
    os.remove(os.path.join(root, "layer-bit", "faults.csv"))
    os.remove(os.path.join(root, "tables.md"))
    result = run(root)
    check(result.returncode == 1 and "layer-bit/faults.csv" in result.stderr,
          f"missing layer-bit faults.csv: exit {result.returncode}, {result.stderr!r}")
    check(not os.path.exists(os.path.join(root, "tables.md")), "a failed report writes no tables.md")

for failure in failures:
    print("FAILED:", failure)
print("seed002_report_test:", "FAILED" if failures else "passed")
sys.exit(1 if failures else 0)
