"""One vocabulary: the closed lists in twin.core.vocab are the ones every part uses."""

from twin.core import commands, vocab
from twin.core.catalog import PRECISIONS, load_catalog
from twin.core.engine import routing
from twin.core.layout import PRECISION_BYTES, ROUTING_POLICIES
from twin.core.layout.schema import FORMAT


def test_routing_policies_are_one_list_the_engine_implements():
    assert ROUTING_POLICIES == commands.POLICIES == vocab.ROUTING_POLICIES
    assert set(routing.POLICIES) == set(vocab.ROUTING_POLICIES)
    assert set(vocab.POLICY_ALIASES.values()) <= set(vocab.ROUTING_POLICIES)


def test_precisions_and_bytes_per_weight_agree_with_the_serving_model():
    assert tuple(PRECISIONS) == vocab.PRECISIONS == tuple(PRECISION_BYTES)
    assert dict(load_catalog().constants["bytes_per_param"]) == dict(vocab.PRECISION_BYTES)
    assert vocab.PRECISION_BYTES["fp4"] == 0.5625  # block scales counted, as the serving model does


def test_a_layout_accepts_a_policy_alias_like_the_command_line():
    assert FORMAT["layout"]["routing"]("jsq") == "least-loaded"
    assert commands.parse_command("route jsq") == commands.Route("least-loaded")


def test_component_kinds_are_the_kinds_a_layout_names():
    from twin.core.layout import load_layout
    from twin.core.scenario.model import COMPONENT_FIELDS

    for name in ("default", "hyperscale"):
        layout = load_layout(name)
        assert {layout.kind_of(i) for i in layout.ids} <= set(vocab.COMPONENT_KINDS)
    assert set(COMPONENT_FIELDS) == set(vocab.CONDITION_KINDS)
    assert set(vocab.FAULT_KINDS) <= {*vocab.COMPONENT_KINDS, "node", "gpu"}
