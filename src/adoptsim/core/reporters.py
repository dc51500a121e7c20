"""The scalar and agent reporters of the model's Mesa ``DataCollector``, and that collector
(:class:`ModelDataCollector`: Mesa's, without its per-step deep copy of values that are new
objects each step).

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

import mesa
import numpy as np


class ModelDataCollector(mesa.DataCollector):
    """Mesa's ``DataCollector`` (every reporter, table and method as usual), except that the
    model reporters' values are stored as returned: Mesa deep-copies every model reporter's
    value each step so that later changes to the model cannot reach the record, but each of the
    model's reporters returns a new array, dict or float every month that nothing else changes,
    so the copy would only cost time (issue 17). Mesa collects the agent reporters."""

    def collect(self, model):
        for name, reporter in self.model_reporters.items():
            self.model_vars[name].append(reporter(model))
        steps = getattr(self, "_collection_steps", None)
        if steps is not None:  # Mesa >= 3.5 lists the time of each collection (batch_run reads rows by it)
            steps.append(model.time)
        if self.agent_reporters or getattr(self, "agenttype_reporters", None):
            everything, self.model_reporters = self.model_reporters, {}
            try:  # Mesa collects the agent reporters (it adds no collection time without model reporters)
                super().collect(model)
            finally:
                self.model_reporters = everything


def _world_counts(model) -> tuple[np.ndarray, np.ndarray, float]:
    """Developers per product (P,) and per vendor (V,) in the world and all developers (1.0
    when there are none), in the metrics phase (``model.world_counts()``)."""
    on, per_vendor, total = model.world_counts()
    return on, per_vendor, (total if total > 0 else 1.0)


def adoption(model) -> float:
    """World share of developers whose community uses some model."""
    on, _, total = _world_counts(model)
    return float(on.sum() / total)


def open_share(model) -> float:
    """World share of developers on an open-weight product (licence of this month)."""
    on, _, total = _world_counts(model)
    return float(on[model.market.is_open].sum() / total)


def origin_share(origin: int, vendor_origin: np.ndarray):
    """A reporter of the world share of developers on models of nation ``origin``
    (``vendor_origin``: each vendor's origin)."""
    mine = vendor_origin == origin

    def share(model) -> float:
        _, per_vendor, total = _world_counts(model)
        return float(per_vendor[mine].sum() / total)

    return share


def scalar_reporters(index) -> dict:
    """``adoption``, ``open_share`` and ``share_origin_<ORIGIN>`` for the vendors' origins, in the
    order of the origins' positions among the nations (as ``metrics.tidy`` orders its keys)."""
    reporters = {"adoption": adoption, "open_share": open_share}
    for o in sorted(set(index.vendor_origin.tolist())):
        reporters[f"share_origin_{index.nations[o]}"] = origin_share(o, index.vendor_origin)
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
