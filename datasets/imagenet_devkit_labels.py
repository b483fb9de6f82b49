#!/usr/bin/python3
"""ImageNet's validation labels from the ILSVRC2012 devkit, in torchvision's class order.

    /usr/bin/python3 datasets/imagenet_devkit_labels.py ILSVRC2012_devkit_t12.tar.gz val_labels.csv
    ./build/flipsweep cache imagenet_val.fswptc --images ILSVRC2012_img_val --labels val_labels.csv \\
        --resize 256 --crop 224

The devkit's data/ILSVRC2012_validation_ground_truth.txt numbers the classes by ILSVRC2012_ID
(1 … 1000, the devkit's own order); torchvision's pretrained models number them by sorted WNID.
This reads the devkit's data/meta.mat (the synsets: ILSVRC2012_ID → WNID, as torchvision's
ImageNet dataset does) and writes one `ILSVRC2012_val_NNNNNNNN,WNID` line per validation image,
which `flipsweep cache --labels` turns into sorted-WNID class indices. DEVKIT is the devkit's
.tar.gz or the folder it unpacks to. The CSV is written to OUT.tmp and renamed when complete.
"""
import argparse
import io
import os
import sys
import tarfile

try:
    import scipy.io
except ImportError:  # pragma: no cover - Debian's python3-scipy is in scripts/install-deps.sh
    sys.exit("imagenet_devkit_labels.py: scipy is needed to read meta.mat (Debian: apt-get install python3-scipy)")

META = "data/meta.mat"
TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"


class DevkitError(Exception):
    pass


def read_devkit_files(devkit):
    """(meta.mat bytes, ground-truth text) from the devkit's .tar.gz or folder."""
    if os.path.isdir(devkit):
        found = {}
        for name in (META, TRUTH):
            path = os.path.join(devkit, name)
            if not os.path.isfile(path):
                raise DevkitError(f"{devkit}: no {name} in this folder (is it the unpacked ILSVRC2012 devkit?)")
            with open(path, "rb") as f:
                found[name] = f.read()
        return found[META], found[TRUTH].decode("ascii", "replace")
    if not os.path.isfile(devkit):
        raise DevkitError(f"{devkit}: no such file or folder")
    try:
        with tarfile.open(devkit) as archive:
            members = {}
            for member in archive.getmembers():
                for name in (META, TRUTH):
                    # The archive's top folder is ILSVRC2012_devkit_t12/.
                    if member.isfile() and (member.name == name or member.name.endswith("/" + name)):
                        members[name] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError) as e:
        raise DevkitError(f"{devkit}: not a readable devkit archive: {e}")
    for name in (META, TRUTH):
        if name not in members:
            raise DevkitError(f"{devkit}: the archive holds no {name}")
    return members[META], members[TRUTH].decode("ascii", "replace")


def wnid_of_id(meta_bytes, where):
    """ILSVRC2012_ID → WNID for the leaf synsets (num_children 0), the 1000 classes."""
    try:
        synsets = scipy.io.loadmat(io.BytesIO(meta_bytes), squeeze_me=True)["synsets"]
    except Exception as e:  # scipy raises several types for a damaged file
        raise DevkitError(f"{where}: cannot read the synsets: {e}")
    for field in ("ILSVRC2012_ID", "WNID", "num_children"):
        if synsets.dtype.names is None or field not in synsets.dtype.names:
            raise DevkitError(f"{where}: synsets have no field {field}")
    mapping = {}
    for synset in synsets.ravel():
        if int(synset["num_children"]) != 0:
            continue
        class_id, wnid = int(synset["ILSVRC2012_ID"]), str(synset["WNID"])
        if class_id in mapping:
            raise DevkitError(f"{where}: ILSVRC2012_ID {class_id} appears twice")
        mapping[class_id] = wnid
    if not mapping:
        raise DevkitError(f"{where}: no leaf synsets (num_children 0)")
    return mapping


def labels_csv(devkit):
    meta_bytes, truth = read_devkit_files(devkit)
    mapping = wnid_of_id(meta_bytes, f"{devkit}: {META}")
    lines = ["ImageId,WNID"]
    for number, text in enumerate(truth.splitlines(), start=1):
        text = text.strip()
        if not text:
            continue
        try:
            class_id = int(text)
        except ValueError:
            raise DevkitError(f"{devkit}: {TRUTH}:{number}: '{text}' is not a class id")
        if class_id not in mapping:
            raise DevkitError(f"{devkit}: {TRUTH}:{number}: class id {class_id} is no leaf synset of {META}")
        lines.append(f"ILSVRC2012_val_{number:08d},{mapping[class_id]}")
    if len(lines) == 1:
        raise DevkitError(f"{devkit}: {TRUTH} holds no labels")
    return "\n".join(lines) + "\n", len(lines) - 1, len(set(mapping.values()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("devkit", help="ILSVRC2012_devkit_t12.tar.gz or the folder it unpacks to")
    parser.add_argument("out", help="CSV to write (ImageId,WNID)")
    args = parser.parse_args()
    try:
        text, images, classes = labels_csv(args.devkit)
    except DevkitError as e:
        sys.exit(f"imagenet_devkit_labels.py: {e}")
    temporary = args.out + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, args.out)
    print(f"wrote {args.out}: {images} images, {classes} classes (WNIDs; flipsweep cache numbers them in sorted order)")


if __name__ == "__main__":
    main()
