"""Mutable drafts of racks, PDUs and rows while a layout is being read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _RackDraft:
    id: str
    row: str
    index: int
    gpu: str
    gpus: int
    line: int  # where to report this rack's problems
    cooling: list[str] = field(default_factory=list)
    pdus: list[str] = field(default_factory=list)
    leaf: str = ""


@dataclass
class _PduDraft:
    id: str
    feed: str
    capacity_kw: float
    line: int
    racks: list[str] = field(default_factory=list)


@dataclass
class _RowDraft:
    id: str
    racks: list[_RackDraft]
    racks_per_leaf: int | None
