"""Validation of the engine against theory (docs/validation.md): the formulas
(:mod:`.theory`), the anchor scenarios (:mod:`.anchors`) and the report (:mod:`.report`),
written by ``adoptsim validation-report``."""
