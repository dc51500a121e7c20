"""Nation, Vendor and Community: the Mesa agents of the model.

They are Mesa agents, so a model can be inspected agent by agent
(``model.agents_by_type[Community]``), but their state lives in numpy arrays owned by the
vectorised populations of :mod:`adoptsim.core.populations`; each agent object is a view onto one
row of those arrays.
"""

from __future__ import annotations

import mesa


# ---- Mesa agents (views) ------------------------------------------------------------------

class _ScenarioAgent(mesa.Agent):
    """An agent made from one scenario entry (``entry``: a NationSpec or VendorSpec), at
    position ``index`` of the arrays."""

    def __init__(self, model, index: int, entry):
        super().__init__(model)
        self.index = index
        self.entry = entry

    @property
    def id(self) -> str:
        return self.entry.id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.entry.id})"


class Nation(_ScenarioAgent):
    """A nation or bloc; its parameters come from the scenario, policies modify them monthly."""

    @property
    def chip_access(self) -> float:
        return float(self.model.world.chip_access[self.index])


class Vendor(_ScenarioAgent):
    """A model vendor; capability, price, licence and derivatives evolve each month."""

    @property
    def capability(self) -> float:
        return float(self.model.vendors.capability[self.index])

    @property
    def price(self) -> float:
        """Price of the vendor's flagship product (products 0..V−1 are the flagships)."""
        return float(self.model.market.price[self.index])

    @property
    def is_open(self) -> bool:
        return bool(self.model.vendors.is_open[self.index])

    @property
    def derivatives(self) -> float:
        return float(self.model.vendors.derivatives[self.index])


class Community(mesa.Agent):
    """A developer community in one nation and sector; a view on row ``index`` of the arrays."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def nation(self) -> str:
        return self.model.index.nations[self.model.communities.nation[self.index]]

    @property
    def sector(self) -> str:
        return self.model.index.sectors[self.model.communities.sector[self.index]]

    @property
    def size(self) -> float:
        return float(self.model.communities.size[self.index])

    @property
    def current_model(self) -> str | None:
        v = self.model.communities.current[self.index]
        return None if v < 0 else self.model.market.table.ids[v]

    def __repr__(self) -> str:
        return f"Community({self.index}, {self.nation}/{self.sector}, {self.current_model})"
