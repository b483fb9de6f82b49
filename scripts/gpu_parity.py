#!/usr/bin/env python3
"""GPU parity check: the same fault campaigns on flipsweep's CUDA backend and on its CPU backend,
trial by trial.

  python3 scripts/gpu_parity.py [--quick | --full] [--flipsweep build-gpu/flipsweep] [--work DIR]

a) ResNet20 (models/fashion-mnist/resnet20_none.onnx and resnet20_tanh.onnx, saf tanh), formats
   fp32, fp16, q2.5, BER 1e-6, 1e-5, 1e-4, 10 trials, on the Fashion-MNIST test files in
   .offline-deps/data/fashion-mnist/ (scripts/fetch-offline-deps.sh copies them there; else
   Debian's /usr/share/datasets/fashion-mnist/; else a generated random 1x28x28 tensor cache, said
   so in the output): the first 1,000 images (--quick, the default) or all 10,000 (--full).
b) ResNet18: torchvision's resnet18 (torch.manual_seed(0), random weights, eval mode) exported to
   ONNX here with this interpreter's torch: python/export_onnx.py's export() first (BatchNorm kept,
   state_dict names), else torch.onnx.export(dynamo=False, opset 13, no constant folding); 512
   random 3x224x224 images (a generated tensor cache, 1000 classes, /255 and ImageNet mean/std
   only), fp32 and fp16, BER 1e-7 and 1e-6, 3 trials.

Criteria, for every trial and for the clean evaluation of every configuration: top-1 of the device
backend within 0.1 point of the CPU backend's, all_nan identical, and the same faults (flips and
nonfinite identical: faults depend only on seed, trial and tensor). Prints a table of the
differences per (configuration, BER) and a PASS/FAIL line per part; exit 0 only when both pass.
Writes gpu-parity-summary.txt into --work and, when $OUT is set, into $OUT.

The CPU side runs in the background while the device side runs (the CPU side is the long one).
--budget-s bounds the whole script (default 140 s with --quick, none with --full); a campaign
still running at the deadline is stopped and its part fails, saying so.

Without a GPU the same code paths can be checked with --device-backend host-plan (the CUDA
backend's plan on the CPU) at small sizes, e.g.
  /usr/bin/python3 scripts/gpu_parity.py --flipsweep build/flipsweep --device-backend host-plan \\
      --limit 200 --trials 2 --r18-images 8 --r18-trials 1
"""
import argparse
import csv
import os
import shutil
import struct
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 0.1          # points of top-1
EPS = 1e-6               # trials.csv prints 4 decimals


# ---------------------------------------------------------------------------------------------
# Helpers shared with bench/pytorch_trial_loop.py
# ---------------------------------------------------------------------------------------------

def write_tensor_cache(path, count, channels, height, width, num_classes, seed):
    """Writes a FSWPTC01 tensor cache (datasets/FORMATS.md) of random uint8 pixels and labels,
    both from numpy's default_rng(seed). Written to path + '.tmp' and renamed into place."""
    import numpy as np
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=count, dtype=np.int64).astype("<i4")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"FSWPTC01")
        f.write(struct.pack("<IIIIQII", 1, channels, height, width, count, num_classes, 0))
        f.write(labels.tobytes())
        chunk = max(1, (64 << 20) // (channels * height * width))
        for first in range(0, count, chunk):
            n = min(chunk, count - first)
            f.write(rng.integers(0, 256, size=(n, channels, height, width), dtype=np.uint8).tobytes())
    expected = 40 + 4 * count + count * channels * height * width
    if os.path.getsize(tmp) != expected:
        raise RuntimeError(f"{tmp}: {os.path.getsize(tmp)} bytes, expected {expected}")
    os.replace(tmp, path)
    return path


def read_tensor_cache(path):
    """Returns (pixels uint8 [N,C,H,W], labels int32 [N], num_classes) of a FSWPTC01 file."""
    import numpy as np
    with open(path, "rb") as f:
        header = f.read(40)
    if header[:8] != b"FSWPTC01":
        raise RuntimeError(f"{path}: not a FSWPTC01 tensor cache")
    _, c, h, w, count, classes, _ = struct.unpack("<IIIIQII", header[8:40])
    labels = np.fromfile(path, dtype="<i4", count=count, offset=40)
    pixels = np.fromfile(path, dtype=np.uint8, count=count * c * h * w, offset=40 + 4 * count)
    return pixels.reshape(count, c, h, w), labels.astype(np.int32), classes


def flipsweep_loads(flipsweep, path):
    """(ok, message): whether `flipsweep inspect` reads the model."""
    try:
        r = subprocess.run([flipsweep, "inspect", path], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"flipsweep inspect: {e}"
    if r.returncode != 0:
        return False, "flipsweep inspect: " + (r.stderr.strip() or r.stdout.strip())[-400:]
    return True, "flipsweep inspect OK"


def export_resnet18(path, flipsweep=None, num_classes=1000):
    """Exports torchvision's resnet18 (torch.manual_seed(0), random weights, eval mode) to `path`.

    Tries python/export_onnx.py's export() (BatchNorm kept, state_dict names) first; when it raises
    or flipsweep cannot read its file, falls back to torch.onnx.export(dynamo=False, opset 13, no
    constant folding, dynamic batch). Returns (model, method description)."""
    import torch
    import torchvision
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes).eval()
    x = torch.randn(1, 3, 224, 224)
    notes = []
    for leftover in (path, path + ".data"):
        if os.path.exists(leftover):
            os.remove(leftover)
    try:
        sys.path.insert(0, os.path.join(REPO, "python"))
        from export_onnx import export
        export(model, x, path, verbose=False)
        ok, message = flipsweep_loads(flipsweep, path) if flipsweep else (True, "")
        if ok:
            return model, f"python/export_onnx.py export() (torch {torch.__version__}; BatchNorm kept, state_dict names)"
        notes.append(f"export() wrote a file flipsweep cannot read ({message})")
    except Exception as e:  # noqa: BLE001  any failure means: try the plain exporter
        notes.append(f"export() failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}")
    for leftover in (path, path + ".data"):
        if os.path.exists(leftover):
            os.remove(leftover)
    kwargs = dict(opset_version=13, do_constant_folding=False, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    import inspect
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(model, (x,), path, **kwargs)
    if flipsweep:
        ok, message = flipsweep_loads(flipsweep, path)
        if not ok:
            raise RuntimeError("; ".join(notes + [f"torch.onnx.export(dynamo=False) wrote a file flipsweep cannot read ({message})"]))
    return model, "; ".join(notes + [f"fallback torch.onnx.export(dynamo=False, opset 13, no constant folding) "
                                     f"(torch {torch.__version__})"])


# ---------------------------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------------------------

class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds if seconds and seconds > 0 else None

    def left(self):
        return None if self.end is None else self.end - time.monotonic()


def write_config(path, name, trials, bers, formats, models, dataset, batch_size):
    def flow(items):
        return "[" + ", ".join(items) + "]"
    lines = [f"name: {name}", "seed: 1", f"trials: {trials}",
             "ber: " + flow(f"{b:.1e}" for b in bers), "formats: " + flow(formats), "models:"]
    for model in models:
        lines.append("  - {name: %s, path: %s, saf: %s}" % (model["name"], model["path"], model["saf"]))
    lines.append("dataset:")
    lines.append(f"  format: {dataset['format']}")
    lines.append("  paths: " + flow(dataset["paths"]))
    lines.append(f"  limit: {dataset['limit']}")
    lines.append("  preprocess: {mean: %s, std: %s}" % (flow(map(str, dataset["mean"])), flow(map(str, dataset["std"]))))
    lines += ["targets:", "  roles: [conv-weight, linear-weight]", "  bits: all",
              "faults: {model: bit-flip}", f"batch_size: {batch_size}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_campaign(flipsweep, config, backend, out, deadline, log, threads=0, extra=()):
    """Runs one campaign; returns (ok, seconds, message)."""
    if os.path.exists(out):
        shutil.rmtree(out)
    cmd = [flipsweep, "run", config, "--backend", backend, "--out", out, "--no-progress", *extra]
    if threads:
        cmd += ["--threads", str(threads)]
    left = deadline.left()
    if left is not None and left < 5:
        return False, 0.0, f"not started: the time budget is spent ({' '.join(cmd)})"
    t0 = time.monotonic()
    with open(out + ".log", "w") as logf:
        logf.write(" ".join(cmd) + "\n")
        logf.flush()
        try:
            r = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, timeout=left)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            secs = time.monotonic() - t0
            return False, secs, f"timed out after {secs:.0f}s at the time budget ({out}.log)"
        except OSError as e:
            return False, 0.0, f"cannot run {flipsweep}: {e}"
    secs = time.monotonic() - t0
    log(f"  {backend:10s} {os.path.basename(out)}: {secs:.1f}s, rc={rc}")
    if rc != 0:
        with open(out + ".log") as f:
            tail = f.read()[-600:].strip()
        return False, secs, f"rc={rc}: {tail}"
    return True, secs, "ok"


def read_rows(out):
    rows = {}
    with open(os.path.join(out, "clean.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows[(r["config"], "clean", "clean")] = {"top1": float(r["top1"]), "all_nan": None, "flips": "0",
                                                     "nonfinite": None, "sdc": 0.0}
    with open(os.path.join(out, "trials.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows[(r["config"], r["ber"], r["trial"])] = {"top1": float(r["top1"]), "all_nan": r["all_nan"],
                                                         "flips": r["flips"], "nonfinite": r["nonfinite"],
                                                         "sdc": float(r["sdc"])}
    return rows


def compare(device_out, cpu_out, device_name):
    """Returns (ok, table lines, problems)."""
    dev, cpu = read_rows(device_out), read_rows(cpu_out)
    problems = []
    if set(dev) != set(cpu):
        only_dev, only_cpu = sorted(set(dev) - set(cpu)), sorted(set(cpu) - set(dev))
        problems.append(f"different trial sets: only {device_name} {only_dev[:3]}, only cpu {only_cpu[:3]}")
    groups = {}
    def order(key):
        return (key[0], -1.0 if key[1] == "clean" else float(key[1]), -1 if key[2] == "clean" else int(key[2]))
    for key in sorted(set(dev) & set(cpu), key=order):
        d, c = dev[key], cpu[key]
        delta = d["top1"] - c["top1"]
        g = groups.setdefault(key[:2], {"n": 0, "max": 0.0, "sum": 0.0, "differ": 0, "over": 0, "nan": 0,
                                        "faults": 0, "cpu_mean": 0.0, "sdc": 0.0})
        g["sdc"] = max(g["sdc"], abs(d["sdc"] - c["sdc"]))
        g["n"] += 1
        g["sum"] += delta
        g["cpu_mean"] += c["top1"]
        g["max"] = max(g["max"], abs(delta))
        if abs(delta) > EPS:
            g["differ"] += 1
        if abs(delta) > TOLERANCE + EPS:
            g["over"] += 1
            problems.append(f"{key[0]} BER {key[1]} trial {key[2]}: top-1 {device_name} {d['top1']:.4f} "
                            f"vs cpu {c['top1']:.4f} (|diff| {abs(delta):.4f} > {TOLERANCE})")
        if d["all_nan"] != c["all_nan"]:
            g["nan"] += 1
            problems.append(f"{key[0]} BER {key[1]} trial {key[2]}: all_nan {device_name} {d['all_nan']} vs cpu {c['all_nan']}")
        if d["flips"] != c["flips"] or d["nonfinite"] != c["nonfinite"]:
            g["faults"] += 1
            problems.append(f"{key[0]} BER {key[1]} trial {key[2]}: faults differ (flips {d['flips']}/{c['flips']}, "
                            f"nonfinite {d['nonfinite']}/{c['nonfinite']})")
    header = (f"{'config':16s} {'BER':>7s} {'n':>3s} {'cpu top1':>9s} {'max|d|':>7s} {'mean d':>7s} "
              f"{'differ':>6s} {'>0.1':>4s} {'nan!=':>5s} {'faults!=':>8s} {'max|d sdc|':>10s}")
    table = [header, "-" * len(header)]
    for (config, ber), g in groups.items():
        table.append(f"{config:16s} {ber:>7s} {g['n']:3d} {g['cpu_mean'] / g['n']:9.2f} {g['max']:7.3f} "
                     f"{g['sum'] / g['n']:+7.3f} {g['differ']:6d} {g['over']:4d} {g['nan']:5d} {g['faults']:8d} {g['sdc']:10.3f}")
    return not problems, table, problems


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build = os.environ.get("FLIPSWEEP_BUILD_DIR") or os.path.join(REPO, "build-gpu")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="full", action="store_false", help="1,000 Fashion-MNIST images (default)")
    size.add_argument("--full", dest="full", action="store_true", help="all 10,000 Fashion-MNIST images")
    parser.set_defaults(full=False)
    parser.add_argument("--flipsweep", default=os.path.join(build, "flipsweep"),
                        help="flipsweep binary (default $FLIPSWEEP_BUILD_DIR/flipsweep, else build-gpu/flipsweep)")
    parser.add_argument("--work", default=os.path.join(build, "gpu-parity"), help="working folder (configs, results)")
    parser.add_argument("--device-backend", default="cuda", help="backend compared with cpu (default cuda; host-plan without a GPU)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index")
    parser.add_argument("--data-dir", default=None, help="folder with t10k-{images-idx3,labels-idx1}-ubyte.gz "
                        "(default: $DEPS/data/fashion-mnist, .offline-deps/data/fashion-mnist, /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--limit", type=int, default=None, help="ResNet20 images (default 1000, --full 10000)")
    parser.add_argument("--trials", type=int, default=10, help="ResNet20 trials per (configuration, BER)")
    parser.add_argument("--r18-images", type=int, default=512, help="ResNet18 random images")
    parser.add_argument("--r18-trials", type=int, default=3, help="ResNet18 trials per (configuration, BER)")
    parser.add_argument("--threads", type=int, default=0, help="CPU backend threads (default all cores)")
    parser.add_argument("--budget-s", type=float, default=None, help="whole-script time limit (default 140 quick, none full)")
    parser.add_argument("--skip-resnet18", action="store_true", help="part a) only")
    args = parser.parse_args()
    if args.limit is None:
        args.limit = 10000 if args.full else 1000
    if args.budget_s is None:
        args.budget_s = 0 if args.full else 140
    deadline = Deadline(args.budget_s)
    t_start = time.monotonic()
    flipsweep = os.path.abspath(args.flipsweep)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    dev = args.device_backend
    dev_extra = ["--device", str(args.device)] if dev == "cuda" else []

    summary = []
    lock = threading.Lock()

    def log(line=""):
        with lock:
            print(line, flush=True)

    def note(line=""):
        log(line)
        summary.append(line)

    note(f"gpu_parity: {dev} vs cpu, {'full' if args.full else 'quick'}, flipsweep {flipsweep}, "
         f"budget {str(int(args.budget_s)) + 's' if args.budget_s else 'none'}")
    if not os.access(flipsweep, os.X_OK):
        note(f"FAIL: no flipsweep binary at {flipsweep} (build first, or pass --flipsweep)")
        return finish(work, summary, 2)

    # --- a) ResNet20 dataset ------------------------------------------------------------------
    candidates = [args.data_dir] if args.data_dir else [
        os.path.join(os.environ.get("DEPS", os.path.join(REPO, ".offline-deps")), "data", "fashion-mnist"),
        os.path.join(REPO, ".offline-deps", "data", "fashion-mnist"),
        "/usr/share/datasets/fashion-mnist"]
    data_dir = next((d for d in candidates if d and all(os.path.isfile(os.path.join(d, n)) for n in
                    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))), None)
    if data_dir:
        r20_data = {"format": "idx", "paths": [os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"),
                                               os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")]}
        r20_what = f"Fashion-MNIST test files from {data_dir}"
    else:
        cache = write_tensor_cache(os.path.join(work, "random_1x28x28.fswptc"), max(args.limit, 1), 1, 28, 28, 10, seed=20)
        r20_data = {"format": "tensor-cache", "paths": [cache]}
        r20_what = ("NOTE: no Fashion-MNIST test files found (looked in " + ", ".join(c for c in candidates if c) +
                    f"); using a generated random 1x28x28 tensor cache {cache} instead")
    r20_data.update(limit=args.limit, mean=[0.2860], std=[0.3530])
    r20_config = os.path.join(work, "resnet20.yaml")
    write_config(r20_config, "parity-resnet20", args.trials, [1e-6, 1e-5, 1e-4], ["fp32", "fp16", "q2.5"],
                 [{"name": "none", "path": os.path.join(REPO, "models/fashion-mnist/resnet20_none.onnx"), "saf": "none"},
                  {"name": "tanh", "path": os.path.join(REPO, "models/fashion-mnist/resnet20_tanh.onnx"), "saf": "tanh"}],
                 r20_data, 256)
    note(f"a) ResNet20 none+tanh x fp32,fp16,q2.5 x BER 1e-6,1e-5,1e-4 x {args.trials} trials, {args.limit} images: {r20_what}")

    # --- run: the CPU chain in the background (ResNet20 at once, ResNet18 once exported), ------
    # --- the ResNet18 export and then the device chain here ------------------------------------
    jobs = [("resnet20", r20_config)]
    results = {}
    r18_ready = threading.Event()

    def cpu_chain():
        for name, config in jobs_for_cpu():
            results[(name, "cpu")] = run_campaign(flipsweep, config, "cpu", os.path.join(work, f"{name}-cpu"),
                                                  deadline, log, threads=args.threads)

    def jobs_for_cpu():
        yield "resnet20", r20_config
        r18_ready.wait()
        if len(jobs) > 1:
            yield jobs[1]

    log("campaigns (cpu in the background):")
    worker = threading.Thread(target=cpu_chain)
    worker.start()

    # b) ResNet18 export and dataset
    r18_error = None
    if not args.skip_resnet18:
        t0 = time.monotonic()
        try:
            onnx_path = os.path.join(work, "resnet18.onnx")
            _, method = export_resnet18(onnx_path, flipsweep)
            cache = write_tensor_cache(os.path.join(work, f"random_3x224x224_{args.r18_images}.fswptc"),
                                       args.r18_images, 3, 224, 224, 1000, seed=18)
            r18_config = os.path.join(work, "resnet18.yaml")
            write_config(r18_config, "parity-resnet18", args.r18_trials, [1e-7, 1e-6], ["fp32", "fp16"],
                         [{"name": "r18", "path": onnx_path, "saf": "none"}],
                         {"format": "tensor-cache", "paths": [cache], "limit": 0,
                          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, 64)
            jobs.append(("resnet18", r18_config))
            note(f"b) ResNet18 x fp32,fp16 x BER 1e-7,1e-6 x {args.r18_trials} trials, {args.r18_images} random "
                 f"images (1000 classes, random labels); export: {method} ({time.monotonic() - t0:.1f}s)")
        except Exception as e:  # noqa: BLE001
            r18_error = f"ResNet18 export failed: {type(e).__name__}: {e}"
            note(f"b) {r18_error}")
    r18_ready.set()

    for name, config in jobs:
        results[(name, dev)] = run_campaign(flipsweep, config, dev, os.path.join(work, f"{name}-{dev}"),
                                            deadline, log, extra=dev_extra)
    worker.join()

    verdicts = {}
    for name, _ in jobs:
        label = "a) ResNet20" if name == "resnet20" else "b) ResNet18"
        (ok_d, secs_d, msg_d), (ok_c, secs_c, msg_c) = results[(name, dev)], results[(name, "cpu")]
        if not (ok_d and ok_c):
            for backend, ok, msg in ((dev, ok_d, msg_d), ("cpu", ok_c, msg_c)):
                if not ok:
                    note(f"{label}: {backend} campaign failed: {msg}")
            verdicts[label] = False
            continue
        ok, table, problems = compare(os.path.join(work, f"{name}-{dev}"), os.path.join(work, f"{name}-cpu"), dev)
        note(f"{label}: {dev} {secs_d:.1f}s, cpu {secs_c:.1f}s; top-1 difference {dev} - cpu (points) "
             f"per configuration and BER:")
        for line in table:
            note("  " + line)
        note("  (differ: trials whose top-1 differs at all; >0.1: over the tolerance; nan!=/faults!=: all_nan or "
             "flips/nonfinite mismatches; max|d sdc|: largest sdc difference, information only)")
        for p in problems[:10]:
            note("  problem: " + p)
        if len(problems) > 10:
            note(f"  ... {len(problems) - 10} more problems")
        verdicts[label] = ok
    if r18_error:
        verdicts["b) ResNet18"] = False
    elif args.skip_resnet18:
        note("b) ResNet18: skipped (--skip-resnet18)")

    note("")
    for label, ok in verdicts.items():
        note(f"{label}: {'PASS' if ok else 'FAIL'} (criteria: every trial's top-1 within {TOLERANCE} point of cpu, "
             f"all_nan and faults identical)")
    all_ok = bool(verdicts) and all(verdicts.values())
    note(f"gpu_parity: {'PASS' if all_ok else 'FAIL'} ({dev} vs cpu, {time.monotonic() - t_start:.0f}s)")
    return finish(work, summary, 0 if all_ok else 1)


def finish(work, summary, rc):
    text = "\n".join(summary) + "\n"
    targets = [os.path.join(work, "gpu-parity-summary.txt")]
    if os.environ.get("OUT"):
        targets.append(os.path.join(os.environ["OUT"], "gpu-parity-summary.txt"))
    for path in targets:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        except OSError as e:
            print(f"cannot write {path}: {e}", file=sys.stderr)
    print(f"summary: {targets[0]}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
