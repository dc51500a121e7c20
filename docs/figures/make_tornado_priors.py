"""Write the tornado of the 2030 headline over every prior into docs/validation.md (its last
section, from the marker on) and its figure
docs/figures/tornado_priors.png, from the folder of

    adoptsim sensitivity experiments/sensitivity_priors_oat.toml --out results/tornado-priors \\
        --metric share_origin --key CN --workers 2

Run from the repository root: ``python docs/figures/make_tornado_priors.py [results/tornado-priors]``."""

import shutil
import sys
from pathlib import Path

import pandas as pd

from adoptsim.validation.report import KEEP_MARKER

ROOT = Path(__file__).resolve().parents[2]
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "tornado-priors"
table = pd.read_parquet(folder / "tornado.parquet")
last = table["date"].max()
sel = table[(table["metric"] == "share_origin") & (table["scope"] == "world") & (table["key"] == "CN")
            & (table["date"] == last)].sort_values("swing", ascending=False)
shutil.copyfile(folder / "plots" / "tornado.png", ROOT / "docs" / "figures" / "tornado_priors.png")
central = float(sel["y_central"].iloc[0])


def fmt(x: float) -> str:
    return f"{x:.4g}"


rows = "\n".join(f"| `{r.factor}` | {fmt(r.low)} – {fmt(r.high)} | {fmt(r.central)} | {r.y_low:.3f} | {r.y_high:.3f} | "
                 f"{100 * (r.y_high - r.y_low):+.1f} |" for r in sel.itertuples(index=False))
section = f"""{KEEP_MARKER}

## Tornado of the headline: sensitivity of the 2030 headline to the priors

The headline — the Chinese-origin share of the world's developers in {pd.Timestamp(last):%Y-%m} (`share_origin`,
world, key `CN`; {central:.3f} in the baseline, mean of 2 replicates) — one prior at a time: each
parameter of `calibration/priors.toml` alone at the low and the high end of its prior range, the
others at the baseline's values (the three sector shares are left out: one share cannot move
alone). 1 + 2 × {len(sel)} points × 2 replicates (seed 4243, common random numbers), made by

```bash
adoptsim sensitivity experiments/sensitivity_priors_oat.toml --out results/tornado-priors \\
    --metric share_origin --key CN --workers 2
python docs/figures/make_tornado_priors.py results/tornado-priors
```

This is local sensitivity: it shows which priors matter most on their own, not their
interactions (the posterior ensemble of [calibration.md](calibration.md) samples them jointly,
constrained by the targets up to 2025-12).

![tornado of the 2030 headline over the priors](figures/tornado_priors.png)

| prior | range | base | share at low | share at high | high − low (points) |
| --- | --- | ---: | ---: | ---: | ---: |
{rows}
"""
page = ROOT / "docs" / "validation.md"
text = page.read_text(encoding="utf-8")
i = text.find(KEEP_MARKER)
text = (text[:i].rstrip("\n") if i >= 0 else text.rstrip("\n")) + "\n\n" + section
page.write_text(text, encoding="utf-8")
print(f"{page}: {len(sel)} priors; {ROOT / 'docs' / 'figures' / 'tornado_priors.png'}")
