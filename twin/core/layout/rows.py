"""Reading ``rows:``: compact row forms, racks, generated PDUs and cooling for a row."""

from __future__ import annotations

import math

from twin.core.catalog import GPU
from twin.core.errors import UnknownName
from twin.core.layout.drafts import _PduDraft, _RackDraft, _RowDraft
from twin.core.layout.model import MAX_RACKS, PDU_HEADROOM, PDU_ROUNDING_KW, rack_peak_kw
from twin.core.layout.schema import (
    _RACK_KEYS,
    _ROW_KEYS,
    FORMAT,
    _ident,
    _numbered,
)
from twin.core.yamlsrc import (
    YList,
    YMap,
)


class RowsMixin:
    """The ``rows:`` half of the layout builder."""

    def read_rows(self, top: YMap) -> None:
        for m in self.items(top, "rows", "rows"):
            self.read_row(m)

    def read_row(self, m: YMap) -> None:
        r = self.r
        r.only(m, _ROW_KEYS, "rows")
        rid = r.get(m, "id", _ident, "rows")
        if rid is None:
            return
        where = f"rows.{rid}"
        count = r.get(m, "count", FORMAT["row"]["count"], where, default=None)
        start = r.get(m, "start", FORMAT["row"]["start"], where, default=1)
        if count is None and "start" in m:
            self.error(
                m.line_of("start"), f"{where}.start: only with count (it numbers the stamped rows)"
            )
        if count is not None and "rack_prefix" in m:
            self.error(
                m.line_of("rack_prefix"),
                f"{where}.rack_prefix: cannot be used with count (the rows would share rack ids)",
            )
        if isinstance(m.get("racks"), list) and "rack_prefix" in m:
            self.error(
                m.line_of("rack_prefix"),
                f"{where}.rack_prefix: only with racks: N (a list names its racks)",
            )
        # The row's SKU and rack size.
        gpu = self.gpu(m["gpu"], m.line_of("gpu"), f"{where}.gpu") if "gpu" in m else None
        gpus_per_rack = r.get(
            m, "gpus_per_rack", FORMAT["row"]["gpus_per_rack"], where, default=None
        )
        if gpu is not None and gpus_per_rack is not None and gpus_per_rack % gpu.gpus_per_node:
            self.error(
                m.line_of("gpus_per_rack"),
                f"{where}.gpus_per_rack: {gpus_per_rack} is not a whole number of {gpu.id} nodes ({gpu.gpus_per_node} GPUs each)",
            )
        racks_value = m.get("racks")
        explicit = isinstance(racks_value, list)
        n_racks = None
        if racks_value is None:
            self.error(
                m.line, f"{where}: missing required key 'racks' (a number, or a list of racks)"
            )
        elif not explicit:
            n_racks = r.get(m, "racks", FORMAT["row"]["racks"], where)
            if "gpu" not in m:
                self.error(
                    m.line, f"{where}: missing required key 'gpu' (the GPU SKU of its racks)"
                )
        elif count is not None:
            self.error(
                m.line_of("racks"),
                f"{where}.racks: a list of racks cannot be stamped with count; give a number",
            )
            return
        # Power: generated PDUs.
        pdus_n = r.get(m, "pdus", FORMAT["row"]["pdus"], where, default=None)
        feed = r.get(m, "feed", _ident, where, default=None)
        b_feed = r.get(m, "b_feed", _ident, where, default=None)
        pdu_cap = r.get(m, "pdu_capacity", FORMAT["row"]["pdu_capacity"], where, default=None)
        if pdus_n is not None and "feed" not in m:
            self.error(m.line_of("pdus"), f"{where}: pdus needs feed (and b_feed for A/B feeding)")
        for key in ("feed", "b_feed", "pdu_capacity"):
            if key in m and "pdus" not in m:
                self.error(
                    m.line_of(key),
                    f"{where}.{key}: only with pdus (the number of PDUs to make for the row)",
                )
        for key, f in (("feed", feed), ("b_feed", b_feed)):
            if f is not None and f not in self.feeds:
                self.error(m.line_of(key), f"{where}.{key}: {self.unknown_feed(f)}")
        if feed is not None and feed == b_feed:
            self.error(
                m.line_of("b_feed"),
                f"{where}.b_feed: must differ from feed for A/B feeding, both are {feed!r}",
            )
        if pdus_n is not None and n_racks is not None and pdus_n > n_racks:
            self.error(
                m.line_of("pdus"),
                f"{where}.pdus: {pdus_n} PDUs for {n_racks} racks; at most one PDU per rack and side",
            )
            pdus_n = None
        # Cooling: one loop, or (with count) a list shared out over the rows in order.
        loops = self.row_cooling(m, where, count)
        racks_per_leaf = r.get(
            m, "racks_per_leaf", FORMAT["row"]["racks_per_leaf"], where, default=None
        )

        size = (count or 1) * (n_racks or (len(racks_value) if explicit else 0))
        if len(self.racks) + size > MAX_RACKS:
            self.error(
                m.line,
                f"{where}: {size:,} racks would make more than {MAX_RACKS:,} in the layout",
            )
            return
        names = [rid] if count is None else _numbered(rid, start, count)
        if count is not None:
            if not self.register(rid, "row group", m.line_of("id")):
                return
            if not self.register_many(names, "row", m.line, f"{where} (count: {count})"):
                return
            self.groups[rid] = names
        elif not self.register(rid, "row", m.line_of("id")):
            return
        for k, row_id in enumerate(names):
            loop = loops[k * len(loops) // len(names)] if loops else None
            if explicit:
                racks = self.explicit_racks(m, row_id, gpu, gpus_per_rack, loop)
            elif n_racks is not None and gpu is not None:
                prefix = str(m["rack_prefix"]) if "rack_prefix" in m else f"{row_id}-"
                width = max(2, len(str(n_racks)))
                ids = [f"{prefix}{i:0{width}d}" for i in range(1, n_racks + 1)]
                if not self.register_many(ids, "rack", m.line, f"row {row_id!r}"):
                    continue
                gpus = gpus_per_rack or gpu.gpus_per_rack
                racks = [
                    _RackDraft(i, row_id, n + 1, gpu.id, gpus, m.line, [loop] if loop else [])
                    for n, i in enumerate(ids)
                ]
            else:  # its SKU or size was wrong (reported): keep the row, empty
                racks = []
            for rack in racks:
                self.racks[rack.id] = rack
            self.rows[row_id] = _RowDraft(row_id, racks, racks_per_leaf)
            if pdus_n is not None and feed is not None and racks:
                self.make_pdus(row_id, racks, pdus_n, feed, b_feed, pdu_cap, m)

    def row_cooling(self, m: YMap, where: str, count: int | None) -> list[str]:
        if "cooling" not in m:
            return []
        value = m["cooling"]
        if isinstance(value, list):
            if count is None:
                self.error(
                    m.line_of("cooling"),
                    f"{where}.cooling: a list of loops is only for rows stamped with count; give one loop",
                )
                return []
            if len(value) > count:
                self.error(
                    m.line_of("cooling"), f"{where}.cooling: {len(value)} loops for {count} rows"
                )
                return []
            loops = [str(v) for v in value]
        else:
            loops = [str(value)]
        for loop in loops:
            if loop not in self.loops:
                self.error(m.line_of("cooling"), f"{where}.cooling: {self.unknown_loop(loop)}")
        return [lp for lp in loops if lp in self.loops]

    def unknown_loop(self, loop: str) -> str:
        if not self.loops:
            return f"unknown cooling loop {loop!r}; the cooling section lists none"
        return str(UnknownName("cooling loop", loop, self.loops))

    def explicit_racks(
        self, m: YMap, row_id: str, row_gpu: GPU | None, gpus_per_rack: int | None, loop: str | None
    ) -> list[_RackDraft]:
        r = self.r
        seq: YList = m["racks"]
        out = []
        for i, item in enumerate(seq):
            line = seq.line_of(i)
            if isinstance(item, str | int) and not isinstance(item, bool):
                item = YMap({"id": item})
                item.line, item.lines = line, {"id": line}
            rm = r.mapping(item, f"rows.{row_id}.racks[{i + 1}]", line)
            if rm is None:
                continue
            r.only(rm, _RACK_KEYS, f"rows.{row_id}.racks")
            rack_id = r.get(rm, "id", _ident, f"rows.{row_id}.racks")
            where = f"rows.{row_id}.racks.{rack_id}"
            if "gpu" in rm:
                gpu = self.gpu(rm["gpu"], rm.line_of("gpu"), f"{where}.gpu")
            else:
                gpu = row_gpu
                if "gpu" not in m:
                    self.error(rm.line, f"{where}: no GPU SKU (give gpu: on the rack or its row)")
            gpus = r.get(rm, "gpus", FORMAT["rack"]["gpus"], where, default=None)
            if gpu is not None and gpus is not None and gpus % gpu.gpus_per_node:
                self.error(
                    rm.line_of("gpus"),
                    f"{where}.gpus: {gpus} is not a whole number of {gpu.id} nodes ({gpu.gpus_per_node} GPUs each)",
                )
            rack_loop = loop
            if "cooling" in rm:
                rack_loop = str(rm["cooling"])
                if rack_loop not in self.loops:
                    self.error(
                        rm.line_of("cooling"), f"{where}.cooling: {self.unknown_loop(rack_loop)}"
                    )
                    rack_loop = None
            if (
                rack_id is None
                or gpu is None
                or not self.register(rack_id, "rack", rm.line_of("id"))
            ):
                continue
            n = gpus or (gpus_per_rack if "gpu" not in rm and gpus_per_rack else gpu.gpus_per_rack)
            out.append(
                _RackDraft(
                    rack_id,
                    row_id,
                    len(out) + 1,
                    gpu.id,
                    n,
                    rm.line,
                    [rack_loop] if rack_loop else [],
                )
            )
        return out

    def make_pdus(
        self,
        row_id: str,
        racks: list[_RackDraft],
        n: int,
        feed: str,
        b_feed: str | None,
        capacity_kw: float | None,
        m: YMap,
    ) -> None:
        if n > len(racks):
            self.error(
                m.line_of("pdus"),
                f"rows.{row_id}.pdus: {n} PDUs for {len(racks)} racks; at most one PDU per rack and side",
            )
            return
        sides = [("a", feed), ("b", b_feed)] if b_feed else [("", feed)]
        ids = [f"{row_id}-pdu-{side}{j + 1}" for side, _ in sides for j in range(n)]
        if not self.register_many(ids, "PDU", m.line_of("pdus"), f"row {row_id!r}"):
            return
        for side, side_feed in sides:
            for j in range(n):
                share = [rk for k, rk in enumerate(racks) if k * n // len(racks) == j]
                cap = capacity_kw
                if cap is None:
                    peak = sum(rack_peak_kw(self.catalog.gpus[rk.gpu], rk.gpus) for rk in share)
                    cap = math.ceil(peak * PDU_HEADROOM / PDU_ROUNDING_KW) * PDU_ROUNDING_KW
                pdu = _PduDraft(
                    f"{row_id}-pdu-{side}{j + 1}",
                    side_feed or "",
                    cap,
                    m.line_of("pdus"),
                    [rk.id for rk in share],
                )
                self.pdus[pdu.id] = pdu
                for rk in share:
                    rk.pdus.append(pdu.id)
