"""Layouts: the built-in factories, the compact row forms, and every bad-input path.

Bad files are small variations of one tiny layout written to tmp_path; each mistake must
come back as ``FILE:LINE: message`` pointing at the line that holds it.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from twin.cli import main
from twin.core.catalog import load_catalog
from twin.core.errors import InputError, UnknownName
from twin.core.layout import (
    ROUTING_POLICIES,
    Layout,
    builtin_layouts,
    load_layout,
    resolve_layout_path,
)

CATALOG = load_catalog()
BUILTINS = ("default", "hopper-hall", "blackwell-ultra", "hyperscale")

TINY = """\
name: tiny
site: {envelope: 2MW, pue: 1.3}
power:
  feeds:
    - {id: feed-a, capacity: 2MW}
    - {id: feed-b, capacity: 2MW}
cooling:
  - {id: loop-1, capacity: 1MW}
fabric: {spines: 2, frontend: 100Gbps}
rows:
  - {id: row-a, gpu: h100, racks: 4, pdus: 2, feed: feed-a, b_feed: feed-b, cooling: loop-1}
deployments:
  - {id: llama, model: llama-3.3-70b, precision: fp8, gpus_per_replica: 8, replicas: auto, placement: row-a}
workloads:
  - {id: chat, deployment: llama, rate: 40/s, isl: 1k, osl: 500, slo: {ttft: 2s, tpot: 50ms}}
routing: least-loaded
"""


def write(tmp_path: Path, text: str, name: str = "layout.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def variant(old: str, new: str, base: str = TINY) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def line_of(text: str, snippet: str) -> int:
    """The 1-based line of ``text`` holding ``snippet``."""
    for n, line in enumerate(text.splitlines(), 1):
        if snippet in line:
            return n
    raise AssertionError(f"{snippet!r} not in text")


def problems(tmp_path: Path, text: str) -> list[str]:
    """The ``FILE:LINE: message`` lines for a bad layout text (with FILE stripped)."""
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_layout(path, CATALOG)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}:") for line in lines), lines
    return [line[len(str(path)) + 1 :] for line in lines]


def assert_reported(tmp_path: Path, text: str, snippet: str, *words: str) -> None:
    """The mistake on the line holding ``snippet`` is reported there, with ``words``."""
    expected = line_of(text, snippet)
    found = problems(tmp_path, text)
    hits = [p for p in found if p.startswith(f"{expected}: ") and all(w in p for w in words)]
    assert hits, f"nothing at line {expected} with {words}: {found}"


# --------------------------------------------------------------------------- built-ins


@pytest.fixture(scope="module")
def layouts() -> dict[str, Layout]:
    return {name: load_layout(name, CATALOG) for name in BUILTINS}


def test_the_four_builtin_layouts_are_found_by_name():
    assert set(BUILTINS) <= set(builtin_layouts())
    for name in BUILTINS:
        assert resolve_layout_path(name).name == f"{name}.yaml"


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_layout_loads_and_fits_its_envelope_at_peak(layouts, name):
    layout = layouts[name]
    assert layout.name == name
    assert layout.racks and layout.deployments and layout.workloads
    facility_kw = layout.peak_it_kw(CATALOG) * layout.site.pue
    assert facility_kw < layout.site.envelope_kw
    assert layout.routing in ROUTING_POLICIES


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_layout_starts_with_a_comment_saying_what_it_is_for(name):
    first = builtin_layouts()[name].read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"# {name} — ")


def test_hyperscale_has_at_least_a_thousand_racks_and_seventy_thousand_gpus(layouts):
    layout = layouts["hyperscale"]
    assert len(layout.racks) >= 1000
    assert layout.gpus_total >= 70_000
    assert set(layout.gpu_skus) <= {"gb300", "gb200"}


def test_hyperscale_is_written_in_a_short_file():
    text = builtin_layouts()["hyperscale"].read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150


def test_hopper_hall_holds_only_hopper_gpus(layouts):
    assert set(layouts["hopper-hall"].gpu_skus) == {"h100", "h200"}


def test_blackwell_ultra_holds_only_gb300_nvl72_racks(layouts):
    layout = layouts["blackwell-ultra"]
    assert layout.gpu_skus == ("gb300",)
    assert all(r.gpus == 72 for r in layout.racks)


def test_the_default_factory_exercises_every_feature(layouts):
    layout = layouts["default"]
    assert len(layout.gpu_skus) >= 3
    assert 20_000 <= layout.site.envelope_kw <= 40_000
    assert any(r.ab_fed for r in layout.racks) and any(not r.ab_fed for r in layout.racks)
    assert len(layout.cooling) >= 2
    assert layout.fabric.leaves and layout.fabric.spines and layout.fabric.links
    assert len(layout.deployments) >= 3
    assert {d.model for d in layout.deployments} >= {"llama-3.3-70b", "deepseek-r1", "gpt-oss-120b"}
    assert any(d.disaggregated and 0 < d.prefill_share < 1 for d in layout.deployments)
    assert any(d.gpus_per_replica is None for d in layout.deployments)
    assert any(d.replicas is not None for d in layout.deployments)
    assert len(layout.workloads) >= 3
    agentic = [w for w in layout.workloads if w.agentic]
    assert (
        agentic
        and agentic[0].agentic.context_growth_tokens > 0
        and agentic[0].agentic.tool_pause_s > 0
    )
    assert any(w.diurnal for w in layout.workloads)
    assert layout.groups  # rows stamped out with count


@pytest.mark.parametrize("name", BUILTINS)
def test_every_component_id_is_unique_across_kinds(layouts, name):
    layout = layouts[name]
    ids = [
        *(x.id for x in layout.feeds),
        *(x.id for x in layout.pdus),
        *(x.id for x in layout.cooling),
        *(x.id for x in layout.groups),
        *(x.id for x in layout.rows),
        *(x.id for x in layout.racks),
        *(x.id for x in layout.fabric.switches),
        *(x.id for x in layout.fabric.links),
        *(x.id for x in layout.deployments),
        *(x.id for x in layout.workloads),
    ]
    assert len(ids) == len(set(ids)) == len(layout.ids)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_rack_is_fed_cooled_and_on_a_leaf(layouts, name):
    layout = layouts[name]
    pdus = {p.id: p for p in layout.pdus}
    for rack in layout.racks:
        assert 1 <= len(rack.pdus) <= 2
        assert all(rack.id in pdus[p].racks for p in rack.pdus)
        assert rack.id in layout.loop(rack.cooling).racks
        assert rack.id in layout.switch(rack.leaf).racks
        if rack.ab_fed:
            assert pdus[rack.pdus[0]].feed != pdus[rack.pdus[1]].feed


@pytest.mark.parametrize("name", BUILTINS)
def test_a_layout_survives_pickling_and_deep_copying(layouts, name):
    layout = layouts[name]
    for copy_ in (pickle.loads(pickle.dumps(layout)), copy.deepcopy(layout)):
        assert copy_ == layout
        assert copy_.rack(layout.racks[-1].id) == layout.racks[-1]
        assert copy_.site.capex_usd_per_gpu == layout.site.capex_usd_per_gpu


def test_an_unknown_layout_name_is_one_line_listing_the_builtins():
    with pytest.raises(UnknownName) as info:
        load_layout("defualt")
    message = str(info.value)
    assert "\n" not in message
    assert "did you mean 'default'" in message and "hyperscale" in message


def test_a_missing_layout_file_is_reported_by_its_path(tmp_path):
    with pytest.raises(InputError, match="no such layout file"):
        load_layout(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- the compact forms


def test_a_row_entry_stamps_out_numbered_racks_with_the_skus_gpus(tmp_path):
    layout = load_layout(write(tmp_path, TINY), CATALOG)
    assert [r.id for r in layout.racks] == ["row-a-01", "row-a-02", "row-a-03", "row-a-04"]
    assert layout.row("row-a").racks == tuple(r.id for r in layout.racks)
    assert layout.row("row-a").gpu == "h100"
    assert all(
        r.gpus == CATALOG.gpus["h100"].gpus_per_rack and r.row == "row-a" for r in layout.racks
    )
    assert [r.index for r in layout.racks] == [1, 2, 3, 4]
    assert layout.gpus_total == 4 * 32


def test_a_b_feeding_puts_each_rack_on_one_pdu_of_each_feed(tmp_path):
    layout = load_layout(write(tmp_path, TINY), CATALOG)
    assert [p.id for p in layout.pdus] == [
        "row-a-pdu-a1",
        "row-a-pdu-a2",
        "row-a-pdu-b1",
        "row-a-pdu-b2",
    ]
    assert layout.pdu("row-a-pdu-a1").racks == ("row-a-01", "row-a-02")
    assert layout.pdu("row-a-pdu-b2").feed == "feed-b"
    assert layout.rack("row-a-03").pdus == ("row-a-pdu-a2", "row-a-pdu-b2")
    assert all(r.ab_fed for r in layout.racks)
    assert layout.racks_of("feed-b") == tuple(r.id for r in layout.racks)


def test_a_single_fed_row_makes_one_pdu_per_share_of_its_racks(tmp_path):
    text = variant("pdus: 2, feed: feed-a, b_feed: feed-b", "pdus: 2, feed: feed-a")
    layout = load_layout(write(tmp_path, text), CATALOG)
    assert [p.id for p in layout.pdus] == ["row-a-pdu-1", "row-a-pdu-2"]
    assert not any(r.ab_fed for r in layout.racks)


def test_a_generated_pdu_is_sized_for_its_racks_peak_with_headroom(tmp_path):
    layout = load_layout(write(tmp_path, TINY), CATALOG)
    two_racks_kw = 2 * CATALOG.gpus["h100"].rack_kw
    assert two_racks_kw * 1.2 <= layout.pdu("row-a-pdu-a1").capacity_kw <= two_racks_kw * 1.5


def test_count_stamps_out_rows_named_by_their_group_and_shares_out_cooling_loops(tmp_path):
    text = variant(
        "cooling:\n  - {id: loop-1, capacity: 1MW}\n",
        "cooling:\n  - {id: loop-1, capacity: 5MW}\n  - {id: loop-2, capacity: 5MW}\n",
    )
    text = variant(
        "{id: row-a, gpu: h100, racks: 4, pdus: 2, feed: feed-a, b_feed: feed-b, cooling: loop-1}",
        "{id: hall, count: 4, gpu: gb300, racks: 3, pdus: 1, feed: feed-a, cooling: [loop-1, loop-2]}",
        text,
    )
    text = text.replace(
        "model: llama-3.3-70b, precision: fp8, gpus_per_replica: 8, replicas: auto, placement: row-a",
        "model: deepseek-r1, precision: fp4, gpus_per_replica: auto, replicas: auto, placement: hall",
    )
    layout = load_layout(write(tmp_path, text), CATALOG)
    assert [r.id for r in layout.rows] == ["hall-01", "hall-02", "hall-03", "hall-04"]
    assert layout.groups[0].id == "hall" and layout.kind_of("hall") == "group"
    assert layout.rack("hall-03-02").row == "hall-03"
    assert [layout.rack(f"hall-0{n}-01").cooling for n in (1, 2, 3, 4)] == [
        "loop-1",
        "loop-1",
        "loop-2",
        "loop-2",
    ]
    assert len(layout.deployment("llama").racks) == 12
    assert layout.racks_of("hall") == tuple(r.id for r in layout.racks)


def test_count_can_start_numbering_later(tmp_path):
    text = variant(
        "{id: row-a, gpu: h100, racks: 4,", "{id: row, count: 2, start: 9, gpu: h100, racks: 4,"
    )
    text = text.replace("placement: row-a", "placement: row")
    layout = load_layout(write(tmp_path, text), CATALOG)
    assert [r.id for r in layout.rows] == ["row-09", "row-10"]


def test_a_rack_prefix_names_the_racks_of_a_row(tmp_path):
    text = variant(
        "{id: row-a, gpu: h100, racks: 4,", "{id: row-a, gpu: h100, racks: 4, rack_prefix: a,"
    )
    layout = load_layout(write(tmp_path, text), CATALOG)
    assert [r.id for r in layout.racks] == ["a01", "a02", "a03", "a04"]


EXPLICIT = """\
name: lab
site: {envelope: 500kW, pue: 1.4}
power:
  feeds:
    - {id: feed-a, capacity: 1MW}
    - {id: feed-b, capacity: 1MW}
  pdus:
    - {id: pdu-1, feed: feed-a, capacity: 200kW, racks: [row-x]}
    - {id: pdu-2, feed: feed-b, capacity: 200kW, racks: [x1, x2]}
    - {id: pdu-3, feed: feed-b, capacity: 100kW, racks: [x3]}
cooling:
  - {id: loop-1, capacity: 300kW, racks: [x1, x2]}
  - {id: loop-2, capacity: 300kW}
fabric: {spines: 1, uplink: 400Gbps, frontend: 100Gbps, racks_per_leaf: 2}
rows:
  - id: row-x
    gpu: h100
    racks:
      - x1
      - {id: x2, gpu: h200, gpus: 16}
      - {id: x3, gpu: b200, cooling: loop-2}
deployments:
  - {id: r1, model: deepseek-r1, precision: fp8, gpus_per_replica: 8, replicas: 1, placement: x3}
workloads:
  - id: chat
    deployment: r1
    rate_rps: 5
    isl: {mean: 2k, dist: lognormal, sigma: 0.5, max: 8k}
    osl: {dist: uniform, min: 100, max: 300}
    diurnal: [[0, 0.5], ["12h", 1.0]]
    slo: {ttft: 3s, tpot: 80ms}
    agentic: {steps: 4, tool_pause: 2s, context_growth: 1k}
"""


def test_explicit_racks_pdus_and_loops_work_for_a_small_layout(tmp_path):
    layout = load_layout(write(tmp_path, EXPLICIT), CATALOG)
    assert [(r.id, r.gpu, r.gpus) for r in layout.racks] == [
        ("x1", "h100", 32),
        ("x2", "h200", 16),
        ("x3", "b200", 32),
    ]
    assert layout.row("row-x").gpu is None  # mixed SKUs
    assert layout.rack("x1").pdus == ("pdu-1", "pdu-2")
    assert layout.rack("x3").pdus == ("pdu-1", "pdu-3")
    assert layout.loop("loop-1").racks == ("x1", "x2") and layout.rack("x3").cooling == "loop-2"
    assert layout.routing == "least-loaded" and layout.seed == 1 and layout.tick_s is None


def test_workload_classes_read_rates_lengths_diurnal_curves_slos_and_agentic_sessions(tmp_path):
    chat = load_layout(write(tmp_path, EXPLICIT), CATALOG).workload("chat")
    assert chat.rate_rps == 5 and chat.burstiness == 1.0
    assert (chat.isl.kind, chat.isl.mean, chat.isl.sigma, chat.isl.max) == (
        "lognormal",
        2000,
        0.5,
        8000,
    )
    assert (chat.osl.kind, chat.osl.mean, chat.osl.min, chat.osl.max) == ("uniform", 200, 100, 300)
    assert chat.diurnal == ((0.0, 0.5), (12.0, 1.0))
    assert (chat.slo_ttft_s, chat.slo_tpot_s) == (3.0, 0.08)
    assert (
        chat.agentic.steps_mean,
        chat.agentic.tool_pause_s,
        chat.agentic.context_growth_tokens,
    ) == (4, 2.0, 1000)


@pytest.mark.parametrize(
    ("rate", "rps"), [("40/s", 40), ("1.5k/s", 1500), ("600/min", 10), ("7200/h", 2), ("12rps", 12)]
)
def test_a_rate_is_read_with_its_unit(tmp_path, rate, rps):
    layout = load_layout(write(tmp_path, variant("rate: 40/s", f"rate: {rate}")), CATALOG)
    assert layout.workload("chat").rate_rps == pytest.approx(rps)


def test_one_leaf_serves_racks_per_leaf_racks_and_links_to_every_spine(tmp_path):
    layout = load_layout(write(tmp_path, EXPLICIT), CATALOG)
    assert [(s.id, s.racks) for s in layout.fabric.leaves] == [
        ("leaf-1", ("x1", "x2")),
        ("leaf-2", ("x3",)),
    ]
    assert [lk.id for lk in layout.fabric.links] == ["link-leaf-1-spine-1", "link-leaf-2-spine-1"]
    assert layout.fabric.links[0].gb_s == 50.0  # 400 Gbps
    assert layout.kind_of("spine-1") == "spine" and layout.kind_of("link-leaf-2-spine-1") == "link"


def test_uplinks_default_to_non_blocking_for_what_each_leaf_serves(tmp_path):
    layout = load_layout(write(tmp_path, TINY), CATALOG)
    h100 = CATALOG.gpus["h100"]
    assert layout.fabric.links[0].gb_s == pytest.approx(32 * h100.scale_out_gb_s / 2)


def test_lookups_name_what_does_not_exist(tmp_path):
    layout = load_layout(write(tmp_path, TINY), CATALOG)
    assert layout.component("row-a-pdu-b1").feed == "feed-b"
    assert "row-a-01" in layout and "row-z" not in layout
    with pytest.raises(UnknownName, match="did you mean 'row-a-01'"):
        layout.rack("row-a-1")
    with pytest.raises(UnknownName, match="unknown PDU"):
        layout.pdu("row-a-01")


# --------------------------------------------------------------------------- bad input


def test_a_yaml_syntax_error_is_reported_at_its_line(tmp_path):
    text = variant("routing: least-loaded", "routing: [least-loaded")
    found = problems(tmp_path, text)
    assert len(found) == 1 and "YAML syntax" in found[0]


def test_an_unknown_key_is_reported_with_a_did_you_mean(tmp_path):
    text = variant(
        "site: {envelope: 2MW, pue: 1.3}", "site: {envelope: 2MW, pue: 1.3, envelop: 3MW}"
    )
    assert_reported(
        tmp_path, text, "envelop: 3MW", "unknown key 'envelop'", "did you mean 'envelope'"
    )


def test_an_unknown_row_key_is_reported_with_a_did_you_mean(tmp_path):
    text = variant("cooling: loop-1}", "cooling: loop-1, b_fed: feed-b}")
    assert_reported(tmp_path, text, "b_fed", "unknown key 'b_fed'", "did you mean 'b_feed'")


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("envelope: 2MW", "envelope: 2", ("site.envelope", "needs a unit")),
        (
            "{id: feed-a, capacity: 2MW}",
            "{id: feed-a, capacity: 2000}",
            ("capacity", "needs a unit"),
        ),
        ("frontend: 100Gbps", "frontend: 100", ("fabric.frontend", "needs a unit")),
        ("rate: 40/s", "rate: 40", ("rate", "needs a unit", "rate_rps")),
        ("ttft: 2s", "ttft: 2", ("slo.ttft", "needs a unit")),
    ],
)
def test_a_bare_number_where_a_unit_is_needed_is_reported(tmp_path, old, new, words):
    assert_reported(tmp_path, variant(old, new), new, *words)


def test_a_typo_that_would_build_millions_of_racks_is_reported(tmp_path):
    text = variant("racks: 4,", "racks: 400000,")
    assert_reported(tmp_path, text, "racks: 400000", "from 1 to 20,000 racks")


def test_a_wrong_type_is_reported_at_its_line(tmp_path):
    text = variant("racks: 4,", "racks: four,")
    assert_reported(tmp_path, text, "racks: four", "racks", "whole number")


def test_a_negative_capacity_is_reported(tmp_path):
    text = variant("{id: loop-1, capacity: 1MW}", "{id: loop-1, capacity: -1MW}")
    assert_reported(tmp_path, text, "-1MW", "cooling.loop-1.capacity", "greater than 0")


def test_a_pue_below_one_is_reported(tmp_path):
    text = variant("pue: 1.3", "pue: 0.9")
    assert_reported(tmp_path, text, "pue: 0.9", "PUE cannot be below 1")


def test_a_duplicate_id_across_kinds_is_reported_with_the_first_line(tmp_path):
    text = variant("{id: loop-1, capacity: 1MW}", "{id: feed-b, capacity: 1MW}")
    first = line_of(text, "{id: feed-b, capacity: 2MW}")
    assert_reported(
        tmp_path,
        text,
        "{id: feed-b, capacity: 1MW}",
        "duplicate id 'feed-b'",
        f"feed at line {first}",
    )


def test_a_generated_id_that_clashes_is_reported_at_the_row(tmp_path):
    text = variant(
        "    - {id: feed-b, capacity: 2MW}",
        "    - {id: feed-b, capacity: 2MW}\n    - {id: row-a-03, capacity: 1MW}",
    )
    assert_reported(tmp_path, text, "{id: row-a,", "'row-a-03'", "already the id of the feed")


def test_a_rack_fed_by_no_pdu_is_reported_with_its_line(tmp_path):
    text = variant(", pdus: 2, feed: feed-a, b_feed: feed-b", "")
    assert_reported(
        tmp_path, text, "{id: row-a,", "'row-a-01' … 'row-a-04' (4 racks) are fed by no PDU"
    )


def test_an_explicit_rack_fed_by_no_pdu_is_reported_at_its_own_line(tmp_path):
    text = variant("racks: [row-x]}", "racks: [x1, x2]}", EXPLICIT)
    text = variant("    - {id: pdu-3, feed: feed-b, capacity: 100kW, racks: [x3]}\n", "", text)
    assert_reported(tmp_path, text, "{id: x3, gpu: b200", "rack 'x3' is fed by no PDU")


def test_a_rack_fed_by_more_than_two_pdus_is_reported(tmp_path):
    text = variant("racks: [x3]}", "racks: [x1]}", EXPLICIT)
    assert_reported(tmp_path, text, "      - x1", "rack 'x1' is fed by 3 PDUs", "at most 2")


def test_a_pdu_on_an_unknown_feed_is_reported(tmp_path):
    text = variant("racks: [x3]}", "racks: [x3], feed: feed-c}", EXPLICIT).replace(
        "feed: feed-b, capacity: 100kW", "capacity: 100kW"
    )
    assert_reported(
        tmp_path, text, "feed: feed-c", "power.pdus.pdu-3.feed", "unknown feed 'feed-c'"
    )


def test_a_row_on_an_unknown_feed_is_reported(tmp_path):
    text = variant("b_feed: feed-b", "b_feed: feed-x")
    assert_reported(tmp_path, text, "b_feed: feed-x", "rows.row-a.b_feed", "unknown feed 'feed-x'")


def test_a_rack_on_two_pdus_of_one_feed_is_reported(tmp_path):
    text = variant("{id: pdu-2, feed: feed-b,", "{id: pdu-2, feed: feed-a,", EXPLICIT)
    assert_reported(tmp_path, text, "      - x1", "rack 'x1'", "both on feed 'feed-a'")


def test_a_rack_on_no_cooling_loop_is_reported(tmp_path):
    text = variant(", cooling: loop-1}", "}")
    assert_reported(tmp_path, text, "{id: row-a,", "on no cooling loop")


def test_a_rack_on_two_cooling_loops_is_reported(tmp_path):
    text = variant(
        "{id: loop-2, capacity: 300kW}", "{id: loop-2, capacity: 300kW, racks: [x2]}", EXPLICIT
    )
    assert_reported(tmp_path, text, "{id: x2, gpu: h200", "rack 'x2' is on 2 cooling loops")


def test_an_unknown_cooling_loop_is_reported(tmp_path):
    text = variant("cooling: loop-1}", "cooling: loop-7}")
    assert_reported(
        tmp_path, text, "cooling: loop-7", "unknown cooling loop 'loop-7'", "did you mean 'loop-1'"
    )


def test_an_unknown_gpu_sku_is_reported_with_the_known_ones(tmp_path):
    text = variant("gpu: h100", "gpu: h1000")
    assert_reported(
        tmp_path,
        text,
        "gpu: h1000",
        "unknown GPU 'h1000'",
        "did you mean 'h100'",
        "gb300",
        "mi355x",
    )


def test_an_unknown_model_is_reported_with_the_known_ones(tmp_path):
    text = variant("model: llama-3.3-70b", "model: llama-4")
    assert_reported(tmp_path, text, "model: llama-4", "unknown model 'llama-4'", "deepseek-r1")


def test_a_precision_the_gpu_cannot_do_is_reported(tmp_path):
    text = variant("precision: fp8", "precision: fp4")
    assert_reported(tmp_path, text, "precision: fp4", "h100 cannot run fp4")


def test_a_deployment_on_unknown_racks_is_reported(tmp_path):
    text = variant("placement: row-a}", "placement: [row-a, row-b]}")
    assert_reported(tmp_path, text, "placement: [row-a, row-b]", "unknown rack or row 'row-b'")


def test_a_deployment_needing_more_gpus_than_its_racks_have_is_reported(tmp_path):
    text = variant("replicas: auto", "replicas: 17")
    assert_reported(
        tmp_path, text, "replicas: 17", "17 replicas × 8 GPUs = 136 GPUs, but its racks have 128"
    )


def test_a_replica_too_small_for_the_weights_is_reported(tmp_path):
    text = variant("precision: fp8, gpus_per_replica: 8", "precision: bf16, gpus_per_replica: 1")
    assert_reported(
        tmp_path,
        text,
        "gpus_per_replica: 1",
        "llama-3.3-70b in bf16 has 141 GB of weights",
        "1 × h100 hold (80 GB)",
    )


def test_a_model_with_native_4bit_experts_fits_where_its_served_bytes_fit(tmp_path):
    """gpt-oss ships its experts in MXFP4: served at fp8 they stay 4-bit (as the serving
    model loads them), so one 80 GB H100 holds the replica (~63 GB, not 117 GB)."""
    text = variant(
        "model: llama-3.3-70b, precision: fp8, gpus_per_replica: 8",
        "model: gpt-oss-120b, precision: fp8, gpus_per_replica: 1",
    )
    layout = load_layout(write(tmp_path, text), CATALOG)
    assert layout.deployments[0].gpus_per_replica == 1
    from twin.core.serving import Parallelism, Replica

    r = Replica(CATALOG.gpu("h100"), CATALOG.model("gpt-oss-120b"), "fp8", Parallelism(1), CATALOG)
    assert r.fits and r.weight_bytes < 80e9
    # a model whose weights are fp8 throughout is still refused on one GPU
    big = variant(
        "model: llama-3.3-70b, precision: fp8, gpus_per_replica: 8",
        "model: deepseek-r1, precision: fp8, gpus_per_replica: 1",
    )
    assert_reported(tmp_path, big, "gpus_per_replica: 1", "deepseek-r1 in fp8 has 671 GB")


def test_a_workload_class_on_an_unknown_deployment_is_reported(tmp_path):
    text = variant("deployment: llama,", "deployment: lama,")
    assert_reported(
        tmp_path, text, "deployment: lama", "unknown deployment 'lama'", "did you mean 'llama'"
    )


def test_an_unknown_routing_policy_is_reported_with_the_known_ones(tmp_path):
    text = variant("routing: least-loaded", "routing: least-busy")
    assert_reported(tmp_path, text, "routing: least-busy", "unknown routing policy", "kv-aware")


def test_a_missing_section_is_reported(tmp_path):
    text = variant("cooling:\n  - {id: loop-1, capacity: 1MW}\n", "").replace(
        ", cooling: loop-1", ""
    )
    found = problems(tmp_path, text)
    assert any("missing required section 'cooling'" in p for p in found)


def test_an_empty_file_is_reported(tmp_path):
    found = problems(tmp_path, "")
    assert found == ["1: layout: expected a mapping (key: value), got nothing"]


def test_several_mistakes_are_reported_at_once_in_line_order(tmp_path):
    text = variant("pue: 1.3", "pue: 0.8")
    text = variant("gpu: h100", "gpu: h1000", text)
    text = variant("rate: 40/s", "rate: 40", text)
    text = variant("routing: least-loaded", "routing: fastest", text)
    found = problems(tmp_path, text)
    lines = [int(p.split(":")[0]) for p in found]
    assert lines == sorted(lines)
    for snippet in ("pue: 0.8", "gpu: h1000", "rate: 40,", "routing: fastest"):
        assert line_of(text, snippet) in lines


# --------------------------------------------------------------------------- twin check


def test_twin_check_prints_one_ok_line_per_good_file(tmp_path, capsys):
    path = write(tmp_path, TINY)
    assert main(["check", str(path), "default"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{path}: ok — tiny: 4 racks in 1 row, 128 GPUs (h100), 1 deployment, "
        "1 workload class, 2.0 MW envelope (peak 0.2 MW at PUE 1.3)"
    )
    assert "default: 160 racks in 10 rows" in out[1]


def test_twin_check_reports_every_mistake_on_stderr_and_exits_2(tmp_path, capsys):
    good = write(tmp_path, TINY, "good.yaml")
    text = variant("gpu: h100", "gpu: h1000", variant("pue: 1.3", "pue: 0.8"))
    bad = write(tmp_path, text, "bad.yaml")
    assert main(["check", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "good.yaml: ok" in captured.out
    err = captured.err.splitlines()
    assert f"{bad}:{line_of(text, 'pue: 0.8')}: site.pue: PUE cannot be below 1" in err[0]
    assert any(line.startswith(f"{bad}:{line_of(text, 'gpu: h1000')}: ") for line in err)
    assert "Traceback" not in captured.err


def test_twin_check_on_a_yaml_syntax_error_exits_2_without_a_traceback(tmp_path, capsys):
    bad = write(tmp_path, "rows: [\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: YAML syntax" in err and "Traceback" not in err


def test_twin_check_names_an_unknown_layout(capsys):
    assert main(["check", "defualt"]) == 2
    err = capsys.readouterr().err
    assert "unknown layout 'defualt'" in err and "hopper-hall" in err


def test_twin_check_tells_a_scenario_from_a_layout_and_checks_its_targets(tmp_path, capsys):
    path = write(
        tmp_path, "layout: default\nduration: 1m\nevents:\n  - {at: 10s, do: fail pdu-3}\n"
    )
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: events[1]: fail pdu-3: no component 'pdu-3' in layout default" in err
    good = write(
        tmp_path, "layout: default\nduration: 1m\nevents:\n  - {at: 10s, do: fail row-a-pdu-1}\n"
    )
    assert main(["check", str(good)]) == 0
    assert "ok — scenario" in capsys.readouterr().out
