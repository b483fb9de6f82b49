#!/usr/bin/env python3
"""The PyTorch baseline of bench/gpu_campaign.sh, and its data preparation and report.

  python3 bench/pytorch_trial_loop.py prepare --work DIR [--flipsweep F] [--r20-images N] [--r18-images N]
  python3 bench/pytorch_trial_loop.py loop --model resnet20|resnet18 --onnx M.onnx --cache D.fswptc
                                          --trials N --ber B [--modes strict,tf32] [--device cuda|cpu]
                                          [--batches 256,512,1024] [--json OUT.json]
  python3 bench/pytorch_trial_loop.py report --work DIR --csv FILE

`loop` is a plain PyTorch Monte Carlo fault campaign on one device: all conv and linear weights
live in one flat fp32 buffer; per trial it copies the clean weights back, draws a per-bit Bernoulli
mask (32 torch.rand calls over the buffer, one per bit position, each bit set with probability
BER), XORs it into the fp32 words, and evaluates the whole image set (uint8 on the device,
/255 and mean/std per batch, top-1 against the labels) at the batch size that was fastest among
--batches in a clean pass. `strict` turns TF32 off in cuDNN and cuBLAS
(torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False), `tf32` on;
cudnn.benchmark is on in both. Weights come from the ONNX file, mapped by initializer name onto the
PyTorch model's state_dict (ResNet20: python/flipsweep_models.py; ResNet18: torchvision); when
the names do not match (an export that folded BatchNorm), the model is rebuilt from the seed the
export used (torch.manual_seed(0)), which gives the same weights. Result: image-trials per second
of the trial loop (trials x images / seconds, the copy and the masks included).
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.join(REPO, "python"))

MEANS = {"resnet20": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
         "resnet18": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])}


# ---------------------------------------------------------------------------------------------
# prepare: tensor caches and the ResNet18 export
# ---------------------------------------------------------------------------------------------

def prepare(args):
    import gpu_parity
    os.makedirs(args.work, exist_ok=True)
    info = {}
    if args.r20_images > 0:
        path = os.path.join(args.work, f"r20_3x32x32_{args.r20_images}.fswptc")
        if not os.path.exists(path):
            gpu_parity.write_tensor_cache(path, args.r20_images, 3, 32, 32, 10, seed=32)
        info["r20_cache"] = path
    if args.r18_images > 0:
        t0 = time.monotonic()
        path = os.path.join(args.work, f"r18_3x224x224_{args.r18_images}.fswptc")
        if not os.path.exists(path):
            gpu_parity.write_tensor_cache(path, args.r18_images, 3, 224, 224, 1000, seed=224)
        info["r18_cache"] = path
        onnx_path = os.path.join(args.work, "resnet18.onnx")
        _, method = gpu_parity.export_resnet18(onnx_path, args.flipsweep)
        info["r18_onnx"] = onnx_path
        info["r18_export"] = method
        print(f"resnet18: {method}; data and export {time.monotonic() - t0:.1f}s")
    with open(os.path.join(args.work, "prepare.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


# ---------------------------------------------------------------------------------------------
# loop: the PyTorch trial loop
# ---------------------------------------------------------------------------------------------

def load_onnx_weights(model, onnx_path):
    """Copies the ONNX file's initializers into `model`'s state_dict by name. Returns None when every
    entry was found, else why not (the model is left unchanged)."""
    import torch
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        return f"no onnx module ({e})"
    proto = onnx.load(onnx_path)
    tensors = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    for node in proto.graph.node:  # deduplicated initializers routed through Identity
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    state = model.state_dict()
    wanted = [k for k in state if not k.endswith("num_batches_tracked")]
    missing = [k for k in wanted if k not in tensors or tuple(tensors[k].shape) != tuple(state[k].shape)]
    if missing:
        return f"{len(missing)} state_dict names not in the ONNX file (e.g. {missing[0]})"
    model.load_state_dict({k: torch.from_numpy(tensors[k].copy()) if k in tensors else v for k, v in state.items()})
    return None


class FlatWeights:
    """All conv and linear weights of `model` as views into one flat fp32 buffer, with its fault-free
    copy: the baseline's fault model (every stored bit of those weights flips with probability BER)."""

    def __init__(self, model, device):
        import torch
        import torch.nn as nn
        targets = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        self.count = sum(p.numel() for p in targets)
        self.device = device
        self.flat = torch.empty(self.count, dtype=torch.float32, device=device)
        offset = 0
        with torch.no_grad():
            for p in targets:
                n = p.numel()
                self.flat[offset:offset + n].copy_(p.detach().reshape(-1))
                p.data = self.flat[offset:offset + n].view_as(p)
                offset += n
        self.clean = self.flat.clone()
        self.words = self.flat.view(torch.int32)

    def inject(self, ber, generator):
        """Copies the clean weights back, then XORs a per-bit Bernoulli mask (32 torch.rand draws over
        the buffer, one per bit position) into the words. Returns the mask."""
        import torch
        self.flat.copy_(self.clean)
        mask = torch.zeros(self.count, dtype=torch.int32, device=self.device)
        for bit in range(32):
            hit = torch.rand(self.count, generator=generator, device=self.device) < ber
            mask |= hit.to(torch.int32) << bit
        self.words.bitwise_xor_(mask)
        return mask

    def restore(self):
        self.flat.copy_(self.clean)


def build_model(name, onnx_path):
    """Returns (model, how the weights were obtained)."""
    import torch
    import torchvision
    import flipsweep_models

    def fresh():
        torch.manual_seed(0)
        if name == "resnet20":
            return flipsweep_models.resnet20(num_classes=10, in_channels=3)
        return torchvision.models.resnet18(weights=None, num_classes=1000)

    model = fresh()
    why_not = load_onnx_weights(model, onnx_path)
    if why_not is None:
        return model.eval(), "ONNX initializers mapped by name"
    how = f"{why_not}: rebuilt from torch.manual_seed(0)"
    if name == "resnet20":
        raise SystemExit(f"resnet20: cannot load {onnx_path}: {how}")
    return fresh().eval(), how


def loop(args):
    import numpy as np
    import torch
    import gpu_parity

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("loop: no CUDA device visible to torch (use --device cpu to test on the CPU)")
    if args.threads:
        torch.set_num_threads(args.threads)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    model, weights_from = build_model(args.model, args.onnx)
    model = model.to(device)
    pixels, labels, _ = gpu_parity.read_tensor_cache(args.cache)
    if args.images:
        pixels, labels = pixels[:args.images], labels[:args.images]
    images = int(pixels.shape[0])
    x_u8 = torch.from_numpy(np.ascontiguousarray(pixels)).to(device)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    mean_l, std_l = MEANS[args.model]
    mean = torch.tensor(mean_l, device=device).view(1, -1, 1, 1)
    std = torch.tensor(std_l, device=device).view(1, -1, 1, 1)

    weights = FlatWeights(model, device)
    count = weights.count
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True

    def evaluate(batch):
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for first in range(0, images, batch):
            x = (x_u8[first:first + batch].float() / 255.0 - mean) / std
            correct += (model(x).argmax(1) == y[first:first + batch]).sum()
        return correct  # stays on the device: no sync per pass

    results = {"model": args.model, "device": str(device), "torch_version": torch.__version__, "images": images,
               "trials": args.trials, "ber": args.ber, "target_weights": count, "weights_from": weights_from,
               "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
               "modes": {}}
    print(f"pytorch {torch.__version__} on {results['gpu']}: {args.model}, {images} images, {count} target weights; "
          f"weights: {weights_from}", flush=True)
    batches = [int(b) for b in args.batches.split(",")]
    with torch.inference_mode():
        for mode in args.modes.split(","):
            allow = mode == "tf32"
            torch.backends.cudnn.allow_tf32 = allow
            torch.backends.cuda.matmul.allow_tf32 = allow
            weights.restore()
            timings = {}
            for batch in batches:  # warm-up (cuDNN autotuning) then one timed clean pass each
                evaluate(batch)
                sync()
                t0 = time.perf_counter()
                clean_correct = int(evaluate(batch).item())
                timings[batch] = images / (time.perf_counter() - t0)
            best = max(timings, key=timings.get)
            sync()
            t0 = time.perf_counter()
            top1_sum = 0.0
            flips = 0
            corrects = []
            for _ in range(args.trials):
                mask = weights.inject(args.ber, generator)
                corrects.append(evaluate(best))
                if args.count_flips:
                    flips += int(torch.sum(torch.stack([(mask >> b) & 1 for b in range(32)]).to(torch.int64)).item())
            top1_sum = sum(int(c.item()) for c in corrects)  # one sync at the end
            sync()
            seconds = time.perf_counter() - t0
            weights.restore()
            rate = args.trials * images / seconds
            results["modes"][mode] = {"best_batch": best, "clean_images_per_s": timings, "seconds": seconds,
                                      "image_trials_per_s": rate, "clean_top1": 100.0 * clean_correct / images,
                                      "mean_top1": 100.0 * top1_sum / (images * args.trials),
                                      "flips_per_trial": flips / args.trials if args.count_flips else None}
            print(f"  {mode:6s}: clean pass images/s by batch " +
                  ", ".join(f"{b}: {v:.0f}" for b, v in timings.items()) +
                  f"; best {best}; {args.trials} trials in {seconds:.2f}s = {rate:.0f} image-trials/s, "
                  f"mean top-1 {results['modes'][mode]['mean_top1']:.2f} %", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


# ---------------------------------------------------------------------------------------------
# report: merges the flipsweep runs (written by gpu_campaign.sh) and the PyTorch JSON
# ---------------------------------------------------------------------------------------------

def flipsweep_result(work, model, mode):
    """{image_trials_per_s, trials_s, wall_s, eval_images_per_s, trials, images} or None."""
    out = os.path.join(work, f"fs-{model}-{mode}")
    trials_csv = os.path.join(out, "trials.csv")
    if not os.path.exists(trials_csv):
        return None
    with open(trials_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, "clean.csv"), newline="") as f:
        clean = list(csv.DictReader(f))
    if not rows or not clean:
        return None
    images = int(clean[0]["images"])
    trials_s = sum(float(r["seconds"]) for r in rows)
    result = {"trials": len(rows), "images": images, "trials_s": trials_s,
              "image_trials_per_s": len(rows) * images / trials_s if trials_s > 0 else float("nan"),
              "backend": clean[0].get("backend", "?"), "wall_s": None, "eval_images_per_s": None,
              "mean_top1": sum(float(r["top1"]) for r in rows) / len(rows), "complete": None}
    meta = os.path.join(work, f"fs-{model}-{mode}.meta")
    if os.path.exists(meta):
        for line in open(meta):
            key, _, value = line.strip().partition("=")
            if key == "wall_s":
                result["wall_s"] = float(value)
            elif key == "rc":
                result["complete"] = value == "0"
            elif key == "expected_trials":
                result["expected_trials"] = int(value)
    # flipsweep run's last line: "time: P s in activation passes (...), F s on faults (...: S % of T s)".
    run_log = os.path.join(work, f"fs-{model}-{mode}.log")
    result["fault_share_pct"] = None
    if os.path.exists(run_log):
        m = re.search(r"^time: .* on faults \(.*: ([0-9.]+) % of", open(run_log).read(), re.M)
        if m:
            result["fault_share_pct"] = float(m.group(1))
    eval_log = os.path.join(work, f"fs-{model}-{mode}-eval.log")
    if os.path.exists(eval_log):
        m = re.search(r"speed\s+([0-9.]+) images/s", open(eval_log).read())
        if m:
            result["eval_images_per_s"] = float(m.group(1))
    return result


def report(args):
    info = {}
    if os.path.exists(os.path.join(args.work, "prepare.json")):
        info = json.load(open(os.path.join(args.work, "prepare.json")))
    rows = []
    gpu = "?"
    for model, label in (("resnet20", "ResNet20 3x32x32"), ("resnet18", "ResNet18 3x224x224")):
        if model not in args.models.split(","):
            continue
        torch_json = os.path.join(args.work, f"torch-{model}.json")
        tj = json.load(open(torch_json)) if os.path.exists(torch_json) else None
        if tj:
            gpu = tj.get("gpu", gpu)
        for mode in ("strict", "tf32"):
            fs = flipsweep_result(args.work, model, mode)
            tm = tj["modes"].get(mode) if tj else None
            if fs is None and tm is None:
                continue
            ratio = fs["image_trials_per_s"] / tm["image_trials_per_s"] if fs and tm else None
            wall_rate = fs["trials"] * fs["images"] / fs["wall_s"] if fs and fs.get("wall_s") else None
            rows.append({
                "model": label, "mode": mode,
                "images": fs["images"] if fs else tj["images"], "trials": fs["trials"] if fs else tj["trials"],
                "ber": tj["ber"] if tj else args.ber,
                "flipsweep_image_trials_per_s": fs and fs["image_trials_per_s"],
                "flipsweep_trials_s": fs and fs["trials_s"],
                "flipsweep_wall_s": fs and fs.get("wall_s"),
                "flipsweep_wall_image_trials_per_s": wall_rate,
                "flipsweep_eval_images_per_s": fs and fs.get("eval_images_per_s"),
                "campaign_vs_eval": (fs["image_trials_per_s"] / fs["eval_images_per_s"]
                                     if fs and fs.get("eval_images_per_s") else None),
                "fault_share_pct": fs and fs.get("fault_share_pct"),
                "torch_version": tj["torch_version"] if tj else None,
                "torch_best_batch": tm and tm["best_batch"],
                "torch_image_trials_per_s": tm and tm["image_trials_per_s"],
                "ratio": ratio,
                "ratio_wall": wall_rate / tm["image_trials_per_s"] if wall_rate and tm else None,
                "complete": (fs is not None and fs.get("complete") is not False and
                             fs["trials"] == fs.get("expected_trials", fs["trials"]) and tm is not None),
            })

    def fmt(v, spec):
        return "-".rjust(int(re.match(r"\d*", spec).group() or 0)) if v is None else format(v, spec)

    print(f"\nflipsweep ({args.backend}) vs a PyTorch trial loop on {gpu}; image-trials/s "
          "(trials x images / seconds of the trials; wall = whole flipsweep process)")
    head = (f"{'model':19s} {'mode':6s} {'images':>6s} {'trials':>6s} {'flipsweep':>10s} {'fs wall':>9s} "
            f"{'PyTorch':>10s} {'batch':>5s} {'ratio':>6s} {'ratio wall':>10s} {'fs/eval':>7s} {'faults%':>7s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['model']:19s} {r['mode']:6s} {r['images']:6d} {r['trials']:6d} "
              f"{fmt(r['flipsweep_image_trials_per_s'], '10.0f')} {fmt(r['flipsweep_wall_image_trials_per_s'], '9.0f')} "
              f"{fmt(r['torch_image_trials_per_s'], '10.0f')} {fmt(r['torch_best_batch'], '5d')} "
              f"{fmt(r['ratio'], '6.2f')} {fmt(r['ratio_wall'], '10.2f')} {fmt(r['campaign_vs_eval'], '7.2f')} "
              f"{fmt(r['fault_share_pct'], '7.3f')}"
              f"{'' if r['complete'] else '  (incomplete)'}")
    print("ratio = flipsweep / PyTorch (same run, same GPU); fs/eval = campaign image-trials/s over flipsweep's "
          "plain fault-free eval images/s; faults% = share of the campaign's trial time spent outside the "
          "activation passes (fault sampling, weight preparation, slot patches, building and uploading the "
          "correction lists), from flipsweep run's 'time:' line (target < 1 %).")
    if info.get("r18_export"):
        print(f"ResNet18 export: {info['r18_export']}")

    path = args.csv
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    new = not os.path.exists(path)
    fields = ["date", "machine", "gpu", "flipsweep_backend", "model", "mode", "images", "trials", "ber",
              "flipsweep_image_trials_per_s", "flipsweep_trials_s", "flipsweep_wall_s",
              "flipsweep_wall_image_trials_per_s", "flipsweep_eval_images_per_s", "campaign_vs_eval", "fault_share_pct",
              "torch_version", "torch_best_batch", "torch_image_trials_per_s", "ratio", "ratio_wall", "complete"]
    date = datetime.datetime.now().isoformat(timespec="seconds")
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(fields)
        for r in rows:
            r.update(date=date, machine=platform.node(), gpu=gpu, flipsweep_backend=args.backend)
            w.writerow(["" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])
                        for k in fields])
    print(f"csv: {path} ({len(rows)} rows)")
    return 0 if rows and all(r["complete"] for r in rows) else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="tensor caches and the ResNet18 export")
    p.add_argument("--work", required=True)
    p.add_argument("--flipsweep", default=None, help="checks that flipsweep reads the ResNet18 export")
    p.add_argument("--r20-images", type=int, default=2000)
    p.add_argument("--r18-images", type=int, default=1000)
    p = sub.add_parser("loop", help="the PyTorch trial loop")
    p.add_argument("--model", choices=sorted(MEANS), required=True)
    p.add_argument("--onnx", required=True)
    p.add_argument("--cache", required=True, help="FSWPTC01 tensor cache (images and labels)")
    p.add_argument("--images", type=int, default=0, help="first N images only (0 = all)")
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--ber", type=float, required=True)
    p.add_argument("--modes", default="strict,tf32")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batches", default=None, help="candidate batch sizes (default 256,512,1024,2048 for "
                   "resnet20, 64,128,256,512 for resnet18)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (--device cpu)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count-flips", action="store_true", help="also count the flipped bits (extra work per trial)")
    p.add_argument("--json", default=None)
    p = sub.add_parser("report", help="table and CSV row per (model, mode)")
    p.add_argument("--work", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--backend", default="cuda")
    p.add_argument("--ber", type=float, default=None)
    p.add_argument("--models", default="resnet20,resnet18")
    args = parser.parse_args()
    if args.command == "prepare":
        return prepare(args)
    if args.command == "loop":
        if args.batches is None:
            args.batches = "256,512,1024,2048" if args.model == "resnet20" else "64,128,256,512"
        return loop(args)
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
