"""Building a Layout from a document: finding files, cross-references and assembly."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import twin
from twin.core.catalog import GPU, Catalog, load_catalog
from twin.core.errors import InputError, Problem, UnknownName
from twin.core.layout.drafts import _PduDraft, _RackDraft, _RowDraft
from twin.core.layout.model import (
    DEFAULT_AMBIENT_C,
    DEFAULT_AMORTISATION_YEARS,
    DEFAULT_RACKS_PER_LEAF,
    DEFAULT_ROUTING,
    DEFAULT_SEED,
    DEFAULT_USD_PER_KWH,
    MAX_LINKS,
    PDU,
    SCENARIO_KEYS,
    CoolingLoop,
    Deployment,
    Fabric,
    Feed,
    Layout,
    Link,
    Rack,
    Row,
    RowGroup,
    Site,
    Switch,
    WorkloadClass,
)
from twin.core.layout.rows import RowsMixin
from twin.core.layout.schema import (
    _ECONOMICS_KEYS,
    _FABRIC_KEYS,
    _FEED_KEYS,
    _LOOP_KEYS,
    _PDU_KEYS,
    _POWER_KEYS,
    _SITE_KEYS,
    _TOP_KEYS,
    COST_PART_KEYS,
    FORMAT,
    _ident,
)
from twin.core.layout.serve import ServingMixin
from twin.core.yamlsrc import (
    Reader,
    YList,
    YMap,
    boolean,
    load_file,
    text,
)


def builtin_layouts() -> dict[str, Path]:
    """Built-in layout name → file: ``twin/_layouts`` in a wheel, ``layouts/`` in the repo."""
    pkg = Path(twin.__file__).parent
    for folder in (pkg / "_layouts", pkg.parent / "layouts"):
        if folder.is_dir():
            files = sorted(folder.glob("*.yaml"))
            if files:
                return {f.stem: f for f in files}
    return {}


def resolve_layout_path(target: str | Path) -> Path:
    """A layout file, or the file of a built-in layout named ``target``."""
    path = Path(target)
    if path.is_file():
        return path
    builtins = builtin_layouts()
    if str(target) in builtins:
        return builtins[str(target)]
    if isinstance(target, Path) or "/" in str(target) or path.suffix in (".yaml", ".yml"):
        raise InputError(
            [
                Problem(
                    str(target), 0, f"no such layout file (built-in layouts: {', '.join(builtins)})"
                )
            ]
        )
    raise UnknownName("layout", str(target), builtins)


def load_layout(target: str | Path, catalog: Catalog | None = None) -> Layout:
    """Read a layout file or built-in layout; raises ``InputError`` listing every mistake."""
    path = resolve_layout_path(target)
    doc = load_file(path)
    return layout_from_doc(doc, str(path), catalog if catalog is not None else load_catalog())


def layout_from_doc(doc: Any, file: str, catalog: Catalog) -> Layout:
    """A layout from parsed YAML (``yamlsrc.load_file``); ``file`` names it in messages."""
    return _Builder(file, catalog).build(doc)


class _Builder(RowsMixin, ServingMixin):
    """Reads one layout document, collecting every problem before giving up."""

    def __init__(self, file: str, catalog: Catalog):
        self.file = file
        self.catalog = catalog
        self.r = Reader(file)
        self.ids: dict[str, tuple[str, int]] = {}  # id → (kind, line)
        self.feeds: dict[str, Feed] = {}
        self.pdus: dict[str, _PduDraft] = {}
        self.pdu_refs: list[tuple[_PduDraft, YList | None]] = []
        self.loops: dict[str, tuple[float, int]] = {}
        self.loop_refs: list[tuple[str, YList | None]] = []
        self.rows: dict[str, _RowDraft] = {}
        self.racks: dict[str, _RackDraft] = {}
        self.groups: dict[str, list[str]] = {}

    # ---- helpers

    def error(self, line: int, message: str) -> None:
        self.r.error(line, message)

    def register(self, ident: str, kind: str, line: int) -> bool:
        if ident in self.ids:
            other, at = self.ids[ident]
            self.error(line, f"duplicate id {ident!r}: already the id of the {other} at line {at}")
            return False
        self.ids[ident] = (kind, line)
        return True

    def register_many(self, idents: Iterable[str], kind: str, line: int, origin: str) -> bool:
        """Register generated ids; report the first clash of a batch (and how many more)."""
        clashes = [i for i in idents if i in self.ids]
        if clashes:
            other, at = self.ids[clashes[0]]
            more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            self.error(
                line,
                f"{origin} makes {kind} id {clashes[0]!r}{more}, already the id of the {other} at line {at}",
            )
            return False
        for i in idents:
            self.ids[i] = (kind, line)
        return True

    def gpu(self, sku: Any, line: int, where: str) -> GPU | None:
        if not isinstance(sku, str):
            self.error(line, f"{where}: expected a GPU SKU, got {sku!r}")
            return None
        g = self.catalog.gpus.get(sku.lower())
        if g is None:
            self.error(line, f"{where}: {UnknownName('GPU', sku, self.catalog.gpus)}")
        return g

    def items(self, top: YMap, key: str, where: str) -> list[YMap]:
        """The mappings of the list under ``top[key]`` (items that are not are reported)."""
        if key not in top or top[key] is None:
            return []
        seq = self.r.sequence(top[key], where, top.line_of(key))
        if seq is None:
            return []
        out = []
        for i, item in enumerate(seq):
            m = self.r.mapping(item, f"{where}[{i + 1}]", seq.line_of(i))
            if m is not None:
                out.append(m)
        return out

    def refs(self, m: YMap, key: str, where: str) -> YList | None:
        """A list of ids (a single id is accepted too), checked later by ``expand``."""
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, str | int) and not isinstance(value, bool):
            one = YList([str(value)])
            one.line = m.line_of(key)
            one.lines = [m.line_of(key)]
            return one
        seq = self.r.sequence(value, f"{where}.{key}", m.line_of(key))
        return seq

    def expand(self, refs: YList | None, where: str) -> list[str]:
        """Rack, row and group ids → rack ids, in the order written, without repeats."""
        out: dict[str, str] = {}  # rack id -> the reference that named it
        for i, ref in enumerate(refs or ()):
            ref = str(ref)
            if ref in self.racks or ref in self.groups or ref in self.rows:
                ids = (
                    [ref]
                    if ref in self.racks
                    else [
                        rk.id for row in self.groups.get(ref, [ref]) for rk in self.rows[row].racks
                    ]
                )
                again = next((r for r in ids if r in out), None)
                if again is not None:
                    by = "" if out[again] == ref else f" (by {out[again]!r})"
                    self.error(
                        refs.line_of(i),
                        f"{where}: {ref!r} names rack {again!r} again{by}; name each once",
                    )
                for r in ids:
                    out.setdefault(r, ref)
            else:
                known = [*self.groups, *self.rows]
                close = difflib.get_close_matches(ref, known + list(self.racks), n=1)
                hint = (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else f"; rows: {', '.join(known[:20])}"
                )
                self.error(refs.line_of(i), f"{where}: unknown rack or row {ref!r}{hint}")
        return list(out)

    # ---- sections

    def build(self, doc: Any) -> Layout:
        r = self.r
        top = r.mapping(doc, "layout", 1)
        if top is None:
            r.raise_if_any()
        if any(k in top for k in SCENARIO_KEYS):
            key = next(k for k in SCENARIO_KEYS if k in top)
            self.error(top.line_of(key), f"this is a scenario file ({key!r}), not a layout")
            r.raise_if_any()
        r.only(top, _TOP_KEYS, "layout")
        for key in ("site", "power", "cooling", "fabric", "rows"):
            if key not in top:
                self.error(top.line, f"layout: missing required section {key!r}")
        name = r.get(top, "name", text, "layout", default=Path(self.file).stem)
        description = r.get(top, "description", text, "layout", default="")
        seed = r.get(top, "seed", FORMAT["layout"]["seed"], "layout", default=DEFAULT_SEED)
        tick_s = r.get(top, "tick", FORMAT["layout"]["tick"], "layout", default=None)
        site = self.site(top, name)
        self.power(top)
        self.cooling(top)
        self.read_rows(top)
        self.connect()
        fabric = self.fabric(top)
        deployments = self.deployments(top)
        workloads = self.workloads(top, deployments)
        routing = r.get(
            top, "routing", FORMAT["layout"]["routing"], "layout", default=DEFAULT_ROUTING
        )
        r.raise_if_any()
        return self.assemble(
            name, description, site, fabric, deployments, workloads, routing, tick_s, seed
        )

    def site(self, top: YMap, name: str) -> Site:
        r = self.r
        m = r.mapping(top["site"], "site", top.line_of("site")) if "site" in top else None
        e = YMap()
        if "economics" in top:
            e = r.mapping(top["economics"], "economics", top.line_of("economics")) or YMap()
            r.only(e, _ECONOMICS_KEYS, "economics")
        capex: dict[str, float] = {}
        if "capex_usd_per_gpu" in e:
            cm = r.mapping(
                e["capex_usd_per_gpu"],
                "economics.capex_usd_per_gpu",
                e.line_of("capex_usd_per_gpu"),
            )
            for sku in cm or ():
                if self.gpu(sku, cm.line_of(sku), "economics.capex_usd_per_gpu") is not None:
                    capex[str(sku).lower()] = r.get(
                        cm,
                        sku,
                        FORMAT["economics"]["capex_usd_per_gpu"],
                        "economics.capex_usd_per_gpu",
                        default=0.0,
                    )
        economics = {
            "usd_per_kwh": r.get(
                e,
                "usd_per_kwh",
                FORMAT["economics"]["usd_per_kwh"],
                "economics",
                default=DEFAULT_USD_PER_KWH,
            ),
            "amortisation_years": r.get(
                e,
                "amortisation_years",
                FORMAT["economics"]["amortisation_years"],
                "economics",
                default=DEFAULT_AMORTISATION_YEARS,
            ),
            "opex_usd_per_gpu_hr": r.get(
                e,
                "opex_usd_per_gpu_hr",
                FORMAT["economics"]["opex_usd_per_gpu_hr"],
                "economics",
                default=None,
            ),
            "capex_usd_per_gpu": MappingProxyType(capex),
            "cost_overrides": tuple(
                (key, r.get(e, key, FORMAT["economics"][key], "economics"))
                for key in COST_PART_KEYS
                if key in e
            ),
        }
        if m is None:  # missing or not a mapping: already reported
            return Site(name, 0.0, 1.0, ambient_c=DEFAULT_AMBIENT_C, **economics)
        r.only(m, _SITE_KEYS, "site")
        return Site(
            name=r.get(m, "name", text, "site", default=name),
            envelope_kw=r.get(m, "envelope", FORMAT["site"]["envelope"], "site") or 0.0,
            pue=r.get(m, "pue", FORMAT["site"]["pue"], "site") or 1.0,
            ambient_c=r.get(
                m, "ambient_c", FORMAT["site"]["ambient_c"], "site", default=DEFAULT_AMBIENT_C
            ),
            **economics,
        )

    def power(self, top: YMap) -> None:
        r = self.r
        if "power" not in top:
            return
        m = r.mapping(top["power"], "power", top.line_of("power"))
        if m is None:
            return
        r.only(m, _POWER_KEYS, "power")
        if "feeds" not in m:
            self.error(m.line, "power: missing required key 'feeds'")
        for fm in self.items(m, "feeds", "power.feeds"):
            r.only(fm, _FEED_KEYS, "power.feeds")
            fid = r.get(fm, "id", _ident, "power.feeds")
            cap = r.get(fm, "capacity", FORMAT["feed"]["capacity"], f"power.feeds.{fid}")
            if fid is not None and self.register(fid, "feed", fm.line_of("id")):
                self.feeds[fid] = Feed(fid, cap or 0.0)
        for pm in self.items(m, "pdus", "power.pdus"):
            r.only(pm, _PDU_KEYS, "power.pdus")
            pid = r.get(pm, "id", _ident, "power.pdus")
            where = f"power.pdus.{pid}"
            feed = r.get(pm, "feed", _ident, where)
            cap = r.get(pm, "capacity", FORMAT["pdu"]["capacity"], where)
            if feed is not None and feed not in self.feeds:
                self.error(pm.line_of("feed"), f"{where}.feed: {self.unknown_feed(feed)}")
            if "racks" not in pm:
                self.error(
                    pm.line, f"{where}: missing required key 'racks' (the racks or rows it feeds)"
                )
            if pid is not None and self.register(pid, "PDU", pm.line_of("id")):
                draft = _PduDraft(pid, feed or "", cap or 0.0, pm.line)
                self.pdus[pid] = draft
                self.pdu_refs.append((draft, self.refs(pm, "racks", where)))

    def unknown_feed(self, feed: str) -> str:
        if not self.feeds:
            return f"unknown feed {feed!r}; power.feeds lists none"
        return str(UnknownName("feed", feed, self.feeds))

    def cooling(self, top: YMap) -> None:
        r = self.r
        for lm in self.items(top, "cooling", "cooling"):
            r.only(lm, _LOOP_KEYS, "cooling")
            lid = r.get(lm, "id", _ident, "cooling")
            cap = r.get(lm, "capacity", FORMAT["loop"]["capacity"], f"cooling.{lid}")
            if lid is not None and self.register(lid, "cooling loop", lm.line_of("id")):
                self.loops[lid] = (cap or 0.0, lm.line)
                self.loop_refs.append((lid, self.refs(lm, "racks", f"cooling.{lid}")))

    def connect(self) -> None:
        """Attach racks named by PDUs and loops; check every rack is fed and cooled."""
        for pdu, refs in self.pdu_refs:
            for rack_id in self.expand(refs, f"power.pdus.{pdu.id}.racks"):
                pdu.racks.append(rack_id)
                self.racks[rack_id].pdus.append(pdu.id)
        for loop, refs in self.loop_refs:
            for rack_id in self.expand(refs, f"cooling.{loop}.racks"):
                self.racks[rack_id].cooling.append(loop)
        unfed: dict[int, list[str]] = {}
        uncooled: dict[int, list[str]] = {}
        for rack in self.racks.values():
            if not rack.pdus:
                unfed.setdefault(rack.line, []).append(rack.id)
            elif len(rack.pdus) > 2:
                self.error(
                    rack.line,
                    f"rack {rack.id!r} is fed by {len(rack.pdus)} PDUs ({', '.join(rack.pdus)}); at most 2 (A and B)",
                )
            elif len(rack.pdus) == 2:
                a, b = (self.pdus[p].feed for p in rack.pdus)
                if a == b and a:
                    self.error(
                        rack.line,
                        f"rack {rack.id!r}: its PDUs {rack.pdus[0]!r} and {rack.pdus[1]!r} are both on feed {a!r}; A/B feeding needs two feeds",
                    )
            if not rack.cooling:
                uncooled.setdefault(rack.line, []).append(rack.id)
            elif len(rack.cooling) > 1:
                self.error(
                    rack.line,
                    f"rack {rack.id!r} is on {len(rack.cooling)} cooling loops ({', '.join(rack.cooling)}); a rack is on one",
                )
        for line, ids in unfed.items():
            if any(p.line == line and ".pdus:" in p.message for p in self.r.problems):
                continue  # the row's pdus: was refused already; that is the mistake to fix
            self.error(
                line,
                f"{self.some_racks(ids)} fed by no PDU (give the row pdus: N and feed:, or list it in a PDU's racks)",
            )
        for line, ids in uncooled.items():
            self.error(
                line,
                f"{self.some_racks(ids)} on no cooling loop (give the row cooling: LOOP, or list it in a loop's racks)",
            )

    @staticmethod
    def some_racks(ids: list[str]) -> str:
        if len(ids) == 1:
            return f"rack {ids[0]!r} is"
        return f"racks {ids[0]!r} … {ids[-1]!r} ({len(ids)} racks) are"

    def fabric(self, top: YMap) -> Fabric:
        r = self.r
        m = r.mapping(top["fabric"], "fabric", top.line_of("fabric")) if "fabric" in top else None
        if m is None:
            return Fabric((), (), 0.0, True)
        r.only(m, _FABRIC_KEYS, "fabric")
        spines_n = r.get(m, "spines", FORMAT["fabric"]["spines"], "fabric")
        uplink = r.get(m, "uplink", FORMAT["fabric"]["uplink"], "fabric", default=None)
        over = r.get(
            m, "oversubscription", FORMAT["fabric"]["oversubscription"], "fabric", default=1.0
        )
        if "uplink" in m and "oversubscription" in m:
            self.error(
                m.line_of("oversubscription"), "fabric: give uplink or oversubscription, not both"
            )
        frontend = r.get(m, "frontend", FORMAT["fabric"]["frontend"], "fabric")
        rail = r.get(m, "rail_optimised", boolean, "fabric", default=True)
        per_leaf = r.get(
            m,
            "racks_per_leaf",
            FORMAT["fabric"]["racks_per_leaf"],
            "fabric",
            default=DEFAULT_RACKS_PER_LEAF,
        )
        if spines_n is None or frontend is None:
            return Fabric((), (), 0.0, bool(rail))
        n_leaves = sum(
            -(-len(row.racks) // (row.racks_per_leaf or per_leaf)) for row in self.rows.values()
        )
        if n_leaves * spines_n > MAX_LINKS:
            self.error(
                m.line_of("spines"),
                f"fabric.spines: {n_leaves:,} leaves × {spines_n:,} spines is more than {MAX_LINKS:,} links",
            )
            return Fabric((), (), 0.0, bool(rail))
        leaves: list[Switch] = []
        for row in self.rows.values():
            step = row.racks_per_leaf or per_leaf
            for k in range(0, len(row.racks), step):
                leaf = Switch(
                    f"leaf-{len(leaves) + 1}",
                    "leaf",
                    tuple(rk.id for rk in row.racks[k : k + step]),
                )
                leaves.append(leaf)
                for rk in row.racks[k : k + step]:
                    rk.leaf = leaf.id
        spines = [Switch(f"spine-{s + 1}", "spine", ()) for s in range(spines_n)]
        links = []
        for leaf in leaves:
            gb_s = uplink
            if gb_s is None:  # non-blocking, divided by the oversubscription ratio
                down = sum(
                    self.racks[rk].gpus * self.catalog.gpus[self.racks[rk].gpu].scale_out_gb_s
                    for rk in leaf.racks
                )
                gb_s = down / spines_n / over
            links.extend(Link(f"link-{leaf.id}-{sp.id}", leaf.id, sp.id, gb_s) for sp in spines)
        fabric_line = m.line
        self.register_many([s.id for s in leaves + spines], "switch", fabric_line, "fabric")
        self.register_many([lk.id for lk in links], "link", fabric_line, "fabric")
        return Fabric(tuple(leaves + spines), tuple(links), frontend, bool(rail))

    def assemble(
        self,
        name: str,
        description: str,
        site: Site,
        fabric: Fabric,
        deployments: list[Deployment],
        workloads: list[WorkloadClass],
        routing: str,
        tick_s: float | None,
        seed: int,
    ) -> Layout:
        racks = tuple(
            Rack(d.id, d.row, d.index, d.gpu, d.gpus, tuple(d.pdus), d.cooling[0], d.leaf)
            for row in self.rows.values()
            for d in row.racks
        )
        rows = tuple(
            Row(
                row.id,
                tuple(d.id for d in row.racks),
                row.racks[0].gpu if len({d.gpu for d in row.racks}) == 1 else None,
            )
            for row in self.rows.values()
            if row.racks
        )
        rack_order = {rk.id: i for i, rk in enumerate(racks)}
        loops = tuple(
            CoolingLoop(
                lid,
                cap,
                tuple(
                    sorted((rk.id for rk in racks if rk.cooling == lid), key=rack_order.__getitem__)
                ),
            )
            for lid, (cap, _) in self.loops.items()
        )
        pdus = tuple(PDU(p.id, p.feed, p.capacity_kw, tuple(p.racks)) for p in self.pdus.values())
        groups = tuple(RowGroup(g, tuple(rows_)) for g, rows_ in self.groups.items())
        return Layout(
            name=name,
            description=description,
            file=self.file,
            site=site,
            feeds=tuple(self.feeds.values()),
            pdus=pdus,
            cooling=loops,
            rows=rows,
            racks=racks,
            fabric=fabric,
            deployments=tuple(deployments),
            workloads=tuple(workloads),
            routing=routing,
            tick_s=tick_s,
            seed=seed,
            groups=groups,
        )
