"""What each column of adoptsim's tables means and its unit: written into every Parquet file's
schema (field metadata ``description`` and ``unit``), so each table documents itself
(docs/outputs.md). Columns named by a factor path, ``low:``/``high:``/``in:`` of a factor,
``sim:`` of a target, or ``prior_``/``accepted_``/``calibrated_`` bands are described by
pattern (:func:`describe`)."""

from __future__ import annotations

COLUMNS: dict[str, tuple[str, str]] = {
    "run_key": ("SHA-256 of the resolved scenario, seed and replicate: identical variants share a key", ""),
    "point": ("design point number, in design order", "index"),
    "replicate": ("replicate number; replicate r uses child r of numpy.random.SeedSequence(seed)", "index"),
    "member": ("ensemble member of the run: draw k (0..K-1) of an ensemble run (members.parquet names its "
               "posterior member), 0 without an ensemble; in a posterior file, the member's row", "index"),
    "run": ("a sweep run's number: point x replicates + replicate", "index"),
    "posterior_member": ("the posterior row (its member column) drawn as this member", "index"),
    "weight": ("the posterior weight of the member", "fraction"),
    "sd_between": ("standard deviation across members of the member means (NaN with one member)", "metric unit"),
    "sd_within": ("pooled standard deviation across replicates within members (NaN with one replicate)",
                  "metric unit"),
    "median": ("median effect across plausible worlds (members; replicates without an ensemble)", "metric unit"),
    "p_positive": ("share of plausible worlds (members, each 1/K; replicates without an ensemble) whose effect "
                   "is > 0", "fraction"),
    "seed": ("the experiment's or run's root seed", ""),
    "step": ("month number; step 1 is the scenario's start month (state at the end of the month)", "month"),
    "date": ("the month, as its first day", "date"),
    "scope": ("world, region or nation", ""),
    "scope_id": ("world, a region name or a nation id", ""),
    "metric": ("metric name (docs/outputs.md, metrics of the time series)", ""),
    "key": ("vendor id, open/closed, or origin nation id; null for metrics without keys", ""),
    "value": ("the value, in the metric's unit (docs/outputs.md)", "metric unit"),
    "n": ("number of values in the band", "count"),
    "mean": ("mean across the values", "metric unit"),
    "q10": ("10% quantile (linear interpolation)", "metric unit"),
    "q50": ("median", "metric unit"),
    "q90": ("90% quantile (linear interpolation)", "metric unit"),
    "status": ("ok or failed", ""),
    "error": ("the error of a failed run; null when it succeeded", ""),
    "duration": ("wall-clock time of the run; null when unknown", "s"),
    "cpu": ("CPU time of the run; null when unknown", "s"),
    "results": ("label of the results folder compared", ""),
    "reference": ("label of the reference results folder", ""),
    "paired": ("true: replicate r minus reference replicate r; false: every pair of replicates", ""),
    "factor": ("factor path in the scenario", ""),
    "outcome": ("the discovery condition holds for this run", ""),
    "in_box": ("the run lies inside the chosen box", ""),
    "mass": ("share of all runs in the box", "fraction"),
    "coverage": ("share of the runs meeting the condition that are in the box", "fraction"),
    "density": ("share of the box's runs meeting the condition", "fraction"),
    "peeled": ("the factor and side peeled to reach this box", ""),
    "low": ("lower bound (or the factor's low value)", "factor unit"),
    "high": ("upper bound (or the factor's high value)", "factor unit"),
    "central": ("the factor's central value", "factor unit"),
    "categories": ("kept categories joined by |", ""),
    "full_low": ("the factor's lowest value over all runs", "factor unit"),
    "full_high": ("the factor's highest value over all runs", "factor unit"),
    "restricted": ("lifting this bound would let more runs in", ""),
    "y_low": ("outcome at the factor's low value", "metric unit"),
    "y_central": ("outcome at the central point", "metric unit"),
    "y_high": ("outcome at the factor's high value", "metric unit"),
    "swing": ("|y_high - y_low|", "metric unit"),
    "S1": ("first-order Sobol' index", "fraction of variance"),
    "S1_conf": ("95% bootstrap confidence half-width of S1", "fraction of variance"),
    "ST": ("total Sobol' index", "fraction of variance"),
    "ST_conf": ("95% bootstrap confidence half-width of ST", "fraction of variance"),
    "factor_value": ("the candidate value of the target's factor", "factor unit"),
    "reached": ("the candidate's mean reaches the threshold", ""),
    "order": ("evaluation order", "index"),
    "distance": ("calibration distance to the targets", ""),
    "accepted": ("the sample is accepted by the ABC rule", ""),
}


def describe(name: str) -> tuple[str, str]:
    """The description and unit of a column (empty strings when unknown)."""
    if name in COLUMNS:
        return COLUMNS[name]
    for prefix, text in (("low:", "lower bound of factor "), ("high:", "upper bound of factor "),
                         ("in:", "kept categories (joined by |) of factor "),
                         ("sim:", "simulated median over replicates of target ")):
        if name.startswith(prefix):
            return text + name[len(prefix):], ""
    if "." in name:
        return f"value of the scenario field {name} (a factor)", "factor unit"
    return "", ""
