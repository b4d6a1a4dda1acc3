#!/usr/bin/env python3
"""Regenerates the diabetes and breast-cancer CSVs in this folder from Debian's python3-sklearn.

    cd /tmp && apt-get download python3-sklearn && dpkg -x python3-sklearn_*.deb x
    python3 examples/data/convert_sklearn.py /tmp/x/usr/lib/python3/dist-packages/sklearn/datasets/data examples/data

Standard library only. Output: gzip without file name or time stamp, so the bytes are reproducible.
"""
import csv
import gzip
import io
import random
import sys

SEED = 42          # random.Random(SEED).shuffle over the row numbers 0..n-1
TRAIN_SHARE = 0.8  # the first round(0.8 n) shuffled rows are the training split, the rest the test split

DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]
CANCER_BASE = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
               "concave_points", "symmetry", "fractal_dimension"]
CANCER = ([f"mean_{c}" for c in CANCER_BASE] + [f"{c}_error" for c in CANCER_BASE]
          + [f"worst_{c}" for c in CANCER_BASE] + ["target"])


def write(path, header, rows):
    text = io.StringIO(newline="")
    w = csv.writer(text, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as z:
        z.write(text.getvalue().encode("ascii"))


def split(name, header, rows, out):
    order = list(range(len(rows)))
    random.Random(SEED).shuffle(order)
    n_train = round(TRAIN_SHARE * len(rows))
    train = sorted(order[:n_train])
    test = sorted(order[n_train:])
    write(f"{out}/{name}-train.csv.gz", header, [rows[i] for i in train])
    write(f"{out}/{name}-test.csv.gz", header, [rows[i] for i in test])
    print(f"{name}: {len(rows)} rows -> {len(train)} train, {len(test)} test")


def main(src, out):
    with gzip.open(f"{src}/diabetes_data_raw.csv.gz", "rt") as f:
        x = [line.split() for line in f if line.strip()]
    with gzip.open(f"{src}/diabetes_target.csv.gz", "rt") as f:
        y = [repr(float(line)).removesuffix(".0") for line in f if line.strip()]
    assert len(x) == len(y) == 442 and all(len(r) == 10 for r in x)
    split("diabetes", DIABETES, [r + [t] for r, t in zip(x, y)], out)

    with open(f"{src}/breast_cancer.csv") as f:
        lines = list(csv.reader(f))
    n, d = int(lines[0][0]), int(lines[0][1])  # n,nfeatures,malignant,benign
    rows = lines[1:]
    assert n == len(rows) == 569 and d == 30 and all(len(r) == d + 1 for r in rows)
    assert {r[-1] for r in rows} == {"0", "1"}
    split("breast-cancer", CANCER, rows, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
