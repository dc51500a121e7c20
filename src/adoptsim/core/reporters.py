"""The scalar and agent reporters of the model's Mesa ``DataCollector``.

``metrics.tidy`` reads the array reporters (``developers``, ``critical``, ``hosts``,
``vendors``) that :class:`~adoptsim.core.model.AdoptionModel` keeps; the reporters here are the
plain numbers Mesa's own tools expect — ``mesa.batch_run``, ``DataCollector
.get_model_vars_dataframe()`` and SolaraViz plot components (``make_plot_component``) —
so they work on the model without glue:

* model reporters, world scope, shares of all developers (as in :mod:`adoptsim.core.metrics`):
  ``adoption``, ``open_share`` (= ``share_license`` key ``open``) and one
  ``share_origin_<ORIGIN>`` per origin of the vendors (= ``share_origin`` key ORIGIN);
* agent reporters, one value per agent (``None`` where a field does not apply to its kind):
  ``agent_type`` (Nation, Vendor, Community), ``name`` (nation or vendor id, community index),
  ``chip_access`` (nations), ``capability``, ``price`` (flagship, USD / M tokens), ``is_open``
  (vendors), ``model`` (a community's current product, ``None`` before it adopts).
"""

from __future__ import annotations

import numpy as np


def _world_counts(model) -> tuple[np.ndarray, float]:
    """Developers per product in the world (P,) and all developers, in the metrics phase."""
    devs = model.developers()  # (N, P+1), column 0 non-adopters
    total = float(devs.sum())
    return devs[:, 1:].sum(axis=0), (total if total > 0 else 1.0)


def adoption(model) -> float:
    """World share of developers whose community uses some model."""
    on, total = _world_counts(model)
    return float(on.sum() / total)


def open_share(model) -> float:
    """World share of developers on an open-weight product (licence of this month)."""
    on, total = _world_counts(model)
    return float(on[model.market.is_open].sum() / total)


def origin_share(origin: int):
    """A reporter of the world share of developers on models of nation ``origin``."""

    def share(model) -> float:
        on, total = _world_counts(model)
        per_vendor = on @ model.market.to_vendor  # (V,)
        return float(per_vendor[model.index.vendor_origin == origin].sum() / total)

    return share


def scalar_reporters(index) -> dict:
    """``adoption``, ``open_share`` and ``share_origin_<ORIGIN>`` for the vendors' origins, in the
    order of the origins' positions among the nations (as ``metrics.tidy`` orders its keys)."""
    reporters = {"adoption": adoption, "open_share": open_share}
    for o in sorted(set(index.vendor_origin.tolist())):
        reporters[f"share_origin_{index.nations[o]}"] = origin_share(o)
    return reporters


def _attr(name: str):
    return lambda agent: getattr(agent, name, None)


def _name(agent):
    entry = getattr(agent, "entry", None)
    return entry.id if entry is not None else str(agent.index)


AGENT_REPORTERS = {
    "agent_type": lambda agent: type(agent).__name__,
    "name": _name,
    "chip_access": _attr("chip_access"),
    "capability": _attr("capability"),
    "price": _attr("price"),
    "is_open": _attr("is_open"),
    "model": _attr("current_model"),
}
