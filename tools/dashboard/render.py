"""Draws the dashboard's panels from tools/dashboard/picture.ts's JSON to a PNG (matplotlib)."""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

data = json.load(open(sys.argv[1]))
panels = data["panels"]
cols = 3
rows = math.ceil(len(panels) / cols)
fig, axes = plt.subplots(rows, cols, figsize=(15, 3.2 * rows), squeeze=False)
fig.suptitle(
    f"podplug dashboard — the demo under `podplug run` and the operator, {data['seconds']} s; "
    f"kv plugin SIGKILLed at {data['killedAt']:.0f} s",
    fontsize=12,
)
for ax, panel in zip(axes.flat, panels):
    ax.set_title(f"{panel['title']} ({panel['unit']})" if panel["unit"] else panel["title"], fontsize=10)
    for s in panel["series"]:
        xs = [p[0] for p in s["points"]]
        ys = [p[1] for p in s["points"]]
        ax.plot(xs, ys, label=s["label"] or "value", linewidth=1.2)
    ax.axvline(data["killedAt"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("s", fontsize=8)
    ax.tick_params(labelsize=8)
    if panel["series"]:
        ax.legend(fontsize=7, loc="upper left")
for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=80)
