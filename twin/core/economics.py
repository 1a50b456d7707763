"""What a GPU-hour costs, built from its parts — the one economics model of twin.

``cost_parts(gpu, overrides)`` returns a :class:`CostParts` whose ``usd_per_gpu_hr`` is the
all-in cost of one GPU for one hour, split into

* ``system``: the GPU's server (GPU price × ``system_capex_multiplier`` for CPUs, memory,
  NICs and chassis), paid off over ``amortisation_years`` at ``cost_of_capital`` (an
  annuity, as a lender would price it);
* ``network``: the back-end fabric (switches, optics, cables), ``network_capex_fraction``
  of the system, paid off the same way;
* ``facility``: the building, power and cooling plant, ``facility_usd_per_mw`` of critical
  IT power (the GPU's all-in kW), paid off over ``facility_years``;
* ``opex``: support, spares and staff, ``opex_fraction_per_year`` of the system capex;
* ``energy``: all-in kW × PUE × $/kWh.

``capital`` = system + network. Every part is in the catalog (``constants.yaml``,
``economics_*`` entries; the GPU price from ``economics_gpu_price_usd``, else the GPU's
``capex_usd_per_gpu``) with its source; with the
built-in figures the sum reproduces the analysts' reference $/GPU-hr of each GPU
(``usd_per_gpu_hr`` in gpus.yaml, SemiAnalysis InferenceX hyperscaler tier) within a few
percent. ``overrides`` maps any part's name (``usd_per_kwh``, ``pue``,
``amortisation_years``, ``cost_of_capital``, ``capex_usd_per_gpu``,
``system_capex_multiplier``, ``network_capex_fraction``, ``facility_usd_per_mw``,
``facility_years``, ``opex_fraction_per_year``) to a value of the caller's (a layout).

``$/Mtok = usd_per_gpu_hr × 1e6 / (3600 × tok/s/GPU)`` (see ``serving.usd_per_mtok``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twin.core.catalog import GPU, Catalog, load_catalog

HOURS_PER_YEAR = 8766.0

#: the parts a caller may override, and the catalog constant each defaults to
PARTS = {
    "usd_per_kwh": "economics_usd_per_kwh",
    "pue": "economics_pue",
    "amortisation_years": "economics_amortisation_years",
    "cost_of_capital": "economics_cost_of_capital",
    "system_capex_multiplier": "economics_system_capex_multiplier",
    "network_capex_fraction": "economics_network_capex_fraction",
    "facility_usd_per_mw": "economics_facility_usd_per_mw",
    "facility_years": "economics_facility_years",
    "opex_fraction_per_year": "economics_opex_fraction_per_year",
}


@dataclass(frozen=True)
class CostParts:
    """$/GPU-hour by part (see the module docstring)."""

    system: float
    network: float
    facility: float
    opex: float
    energy: float

    @property
    def capital(self) -> float:
        return self.system + self.network

    @property
    def usd_per_gpu_hr(self) -> float:
        return self.system + self.network + self.facility + self.opex + self.energy

    def as_dict(self) -> dict:
        return {
            "capital": self.capital,
            "system": self.system,
            "network": self.network,
            "facility": self.facility,
            "opex": self.opex,
            "energy": self.energy,
            "usd_per_gpu_hr": self.usd_per_gpu_hr,
        }


def annuity(rate: float, years: float) -> float:
    """Yearly payment per dollar borrowed at ``rate`` over ``years`` (straight line at 0 %)."""
    if years <= 0:
        raise ValueError("amortisation years must be positive")
    return 1.0 / years if rate <= 0 else rate / (1.0 - (1.0 + rate) ** -years)


def cost_parts(
    gpu: GPU, overrides: Mapping[str, float] | None = None, catalog: Catalog | None = None
) -> CostParts:
    """All-in $/GPU-hour of ``gpu`` by part; ``overrides`` replace catalog figures by name."""
    k = (catalog or load_catalog()).constants
    o = dict(overrides or {})
    unknown = set(o) - set(PARTS) - {"capex_usd_per_gpu"}
    if unknown:
        raise KeyError(f"unknown economics part(s): {', '.join(sorted(unknown))}")
    v = {name: float(o.get(name, k[const])) for name, const in PARTS.items()}
    prices = k.get("economics_gpu_price_usd", {})
    capex = float(o.get("capex_usd_per_gpu", prices.get(gpu.id, gpu.capex_usd_per_gpu)))
    system = capex * v["system_capex_multiplier"]
    pay = annuity(v["cost_of_capital"], v["amortisation_years"]) / HOURS_PER_YEAR
    facility = gpu.allin_kw_per_gpu / 1000.0 * v["facility_usd_per_mw"]
    return CostParts(
        system=system * pay,
        network=system * v["network_capex_fraction"] * pay,
        facility=facility * annuity(v["cost_of_capital"], v["facility_years"]) / HOURS_PER_YEAR,
        opex=system * v["opex_fraction_per_year"] / HOURS_PER_YEAR,
        energy=gpu.allin_kw_per_gpu * v["pue"] * v["usd_per_kwh"],
    )
