"""Operator commands: every line parses to a value, and every value prints a line that parses back."""

from __future__ import annotations

import pytest

from twin.core.commands import (
    POLICIES,
    VERBS,
    Ack,
    Cap,
    Command,
    CommandError,
    Debrief,
    Degrade,
    Drain,
    Fail,
    Faults,
    Hint,
    Pause,
    Repair,
    Resume,
    Route,
    Save,
    Scale,
    SessionCommand,
    Speed,
    Straggle,
    Surge,
    Swap,
    Undrain,
    complete,
    parse_command,
)
from twin.core.errors import TwinError

# (typed line, the value it means, the canonical line that value prints)
EVERY_FORM = [
    ("fail pdu-3", Fail("pdu-3"), "fail pdu-3"),
    ("fail pdu-3 for 30m", Fail("pdu-3", 1800.0), "fail pdu-3 for 30m"),
    ("fail spine-2 for 90s", Fail("spine-2", 90.0), "fail spine-2 for 90s"),
    ("fail loop-2 for 2h", Fail("loop-2", 7200.0), "fail loop-2 for 2h"),
    ("fail gpu-r07-2-5 for 1.5s", Fail("gpu-r07-2-5", 1.5), "fail gpu-r07-2-5 for 1.5s"),
    ("repair pdu-3", Repair("pdu-3"), "repair pdu-3"),
    (
        "degrade link-leaf-3-spine-1 0.5",
        Degrade("link-leaf-3-spine-1", 0.5),
        "degrade link-leaf-3-spine-1 50%",
    ),
    (
        "degrade link-leaf-3-spine-1 25%",
        Degrade("link-leaf-3-spine-1", 0.25),
        "degrade link-leaf-3-spine-1 25%",
    ),
    ("degrade nvl-r07 0.07", Degrade("nvl-r07", 0.07), "degrade nvl-r07 7%"),
    ("straggle node-r07-2", Straggle("node-r07-2", 1.5), "straggle node-r07-2 1.5"),
    ("straggle node-r07-2 3", Straggle("node-r07-2", 3.0), "straggle node-r07-2 3"),
    ("straggle node-r07-2 2x", Straggle("node-r07-2", 2.0), "straggle node-r07-2 2"),
    ("drain rack-a07", Drain("rack-a07"), "drain rack-a07"),
    ("undrain rack-a07", Undrain("rack-a07"), "undrain rack-a07"),
    ("route kv-aware", Route("kv-aware"), "route kv-aware"),
    ("cap 30MW", Cap(None, 30000.0), "cap 30MW"),
    ("cap 1.5MW", Cap(None, 1500.0), "cap 1.5MW"),
    ("cap rack-a01 40kW", Cap("rack-a01", 40.0), "cap rack-a01 40kW"),
    ("cap pdu-3 700W", Cap("pdu-3", 0.7000000000000001), "cap pdu-3 700W"),
    ("cap 80%", Cap(None, fraction=0.8), "cap 80%"),
    ("cap row-b 7%", Cap("row-b", fraction=0.07), "cap row-b 7%"),
    ("cap 12.3%", Cap(None, fraction=0.123), "cap 12.3%"),
    ("cap off", Cap(), "cap off"),
    ("cap row-b off", Cap("row-b"), "cap row-b off"),
    ("uncap", Cap(), "cap off"),
    ("uncap row-b", Cap("row-b"), "cap row-b off"),
    ("swap row-b gb300", Swap("row-b", "gb300"), "swap row-b gb300"),
    ("scale llama-70b 4", Scale("llama-70b", 4), "scale llama-70b 4"),
    ("scale llama-70b 0", Scale("llama-70b", 0), "scale llama-70b 0"),
    ("surge 3", Surge(3.0), "surge 3"),
    ("surge 3 10m", Surge(3.0, 600.0), "surge 3 10m"),
    ("surge 2 agentic", Surge(2.0, None, "agentic"), "surge 2 agentic"),
    ("surge 1.5 30m chat", Surge(1.5, 1800.0, "chat"), "surge 1.5 30m chat"),
    ("surge 0.5x 1d", Surge(0.5, 86400.0), "surge 0.5 1d"),
    ("surge 2 1.5m", Surge(2.0, 90.0), "surge 2 90s"),
    ("surge 2 0.1h", Surge(2.0, 360.0), "surge 2 6m"),
    ("faults on", Faults(True), "faults on"),
    ("faults off", Faults(False), "faults off"),
    ("speed 60", Speed(60.0), "speed 60"),
    ("speed 60x", Speed(60.0), "speed 60"),
    ("speed 0.5", Speed(0.5), "speed 0.5"),
    ("speed max", Speed(None), "speed max"),
    ("pause", Pause(), "pause"),
    ("resume", Resume(), "resume"),
    ("save drills/pdu.yaml", Save("drills/pdu.yaml"), "save drills/pdu.yaml"),
    ("ack", Ack(), "ack all"),
    ("ack all", Ack(), "ack all"),
    ("ack e42", Ack("e42"), "ack e42"),
    ("hint", Hint(), "hint"),
    ("debrief", Debrief(), "debrief"),
    ("debrief out/drill.md", Debrief("out/drill.md"), "debrief out/drill.md"),
]


@pytest.mark.parametrize(("line", "value", "canonical"), EVERY_FORM, ids=[f[0] for f in EVERY_FORM])
def test_every_command_form_parses_to_its_value_and_prints_a_line_that_parses_back(
    line, value, canonical
):
    parsed = parse_command(line)
    assert parsed == value
    assert parsed.text == canonical
    assert str(parsed) == canonical
    assert parse_command(parsed.text) == parsed


def test_failing_a_pdu_for_thirty_minutes_parses_with_its_repair_time():
    assert parse_command("fail pdu-3 for 30m") == Fail(target="pdu-3", repair_after_s=1800.0)


def test_failing_without_a_time_leaves_the_repair_time_to_the_engine():
    assert parse_command("fail pdu-3").repair_after_s is None


def test_straggling_without_a_factor_slows_the_node_by_half_again():
    assert parse_command("straggle node-r07-2").slowdown == 1.5


@pytest.mark.parametrize(
    ("alias", "policy"),
    [
        ("rr", "round-robin"),
        ("jsq", "least-loaded"),
        ("p2c", "least-loaded"),
        ("kv", "kv-aware"),
        ("power", "power-aware"),
        ("slo", "slo-aware"),
        ("KV", "kv-aware"),
        ("Least-Loaded", "least-loaded"),
    ],
)
def test_policy_aliases_resolve_to_the_canonical_policy(alias, policy):
    assert parse_command(f"route {alias}") == Route(policy)
    assert parse_command(f"route {alias}").text == f"route {policy}"


def test_every_policy_can_be_routed_to():
    assert [parse_command(f"route {p}").policy for p in POLICIES] == list(POLICIES)


def test_verbs_and_keywords_are_case_insensitive():
    assert parse_command("FAIL pdu-3 FOR 30m") == Fail("pdu-3", 1800.0)
    assert parse_command("Cap OFF") == Cap()
    assert parse_command("Faults ON") == Faults(True)
    assert parse_command("SPEED MAX") == Speed(None)
    assert parse_command("Ack ALL") == Ack()


def test_target_ids_are_kept_as_typed_but_gpu_ids_are_lower_cased_as_in_the_catalog():
    assert parse_command("drain Rack-A07") == Drain("Rack-A07")
    assert parse_command("swap row-b GB300") == Swap("row-b", "gb300")


def test_a_leading_colon_and_surrounding_whitespace_are_ignored():
    assert parse_command(":fail pdu-3") == Fail("pdu-3")
    assert parse_command("   :  fail   pdu-3\t\n") == Fail("pdu-3")


def test_factory_actions_are_commands_and_session_actions_are_not():
    for line in ("fail pdu-3", "route rr", "cap 80%", "surge 2", "faults on", "scale m 1"):
        assert isinstance(parse_command(line), Command)
        assert not isinstance(parse_command(line), SessionCommand)
    for line in ("speed 60", "pause", "resume", "save a.yaml", "ack"):
        assert isinstance(parse_command(line), SessionCommand)
        assert not isinstance(parse_command(line), Command)


def test_commands_are_frozen_hashable_values():
    cmd = parse_command("fail pdu-3 for 30m")
    with pytest.raises(AttributeError):
        cmd.target = "pdu-4"  # type: ignore[misc]
    assert len({cmd, parse_command("fail pdu-3 for 1800s"), Fail("pdu-3", 1800.0)}) == 1
    assert Repair("pdu-3") != Drain("pdu-3")


def test_the_parser_does_not_check_that_targets_exist():
    assert parse_command("fail rack-z99") == Fail("rack-z99")


def test_help_lists_every_verb_with_its_usage_and_one_line_of_help():
    assert list(VERBS)[:2] == ["fail", "repair"]
    assert VERBS["fail"] == ("fail TARGET [for DURATION]", VERBS["fail"][1])
    for verb, (usage, help_) in VERBS.items():
        assert usage.split()[0] == verb
        assert help_ and "\n" not in help_


def test_every_verb_in_help_is_covered_by_the_round_trip_forms():
    assert {line.split()[0] for line, _, _ in EVERY_FORM} == set(VERBS)


# Each bad line, and words its one-line error must contain (the verb always comes first).
BAD_LINES = [
    ("", ["empty command", "commands: fail"]),
    ("   ", ["empty command"]),
    (":", ["empty command"]),
    ("fial pdu-3", ["unknown command 'fial'", "did you mean 'fail'?", "commands: fail, repair"]),
    ("xyzzy", ["unknown command 'xyzzy'", "commands:"]),
    ("fail", ["fail: missing target", "e.g. 'fail pdu-3"]),
    ("fail pdu-3 30m", ["fail: expected 'for DURATION'", "'30m'"]),
    ("fail pdu-3 for", ["fail: missing duration after 'for'"]),
    ("fail pdu-3 for soon", ["fail: 'soon' is not a duration like"]),
    ("fail pdu-3 for 0s", ["fail: the repair time must be longer than 0s"]),
    (
        "fail pdu-3 for 30m now",
        ["fail: too many words: 'now'", "usage: fail TARGET [for DURATION]"],
    ),
    ("repair", ["repair: missing target"]),
    ("repair pdu-3 pdu-4", ["repair: too many words: 'pdu-4'"]),
    ("degrade link-1", ["degrade: missing remaining capacity"]),
    ("degrade link-1 half", ["degrade: 'half' is not a fraction like '0.5' or '50%'"]),
    ("degrade link-1 1", ["degrade: the remaining capacity must be between 0 and 1"]),
    ("degrade link-1 0%", ["degrade: the remaining capacity must be between 0 and 1"]),
    ("degrade link-1 150%", ["degrade: the remaining capacity must be between 0 and 1"]),
    ("straggle", ["straggle: missing target"]),
    ("straggle node-1 slow", ["straggle: 'slow' is not a slowdown factor"]),
    ("straggle node-1 0.5", ["straggle: the factor must be 1 or more"]),
    ("straggle node-1 inf", ["straggle: 'inf' is not a slowdown factor"]),
    ("drain", ["drain: missing target"]),
    ("undrain", ["undrain: missing target"]),
    ("route", ["route: missing policy"]),
    ("route fastest", ["route: unknown policy 'fastest'", "policies: round-robin, least-loaded"]),
    ("route kv-awar", ["route: unknown policy", "did you mean 'kv-aware'?"]),
    ("route rr kv", ["route: too many words: 'kv'"]),
    ("cap", ["cap: missing limit"]),
    ("cap rack-a01", ["cap: missing limit for 'rack-a01'"]),
    ("cap 30MQ", ["cap: '30MQ' is not a power like '30MW' or '80%'"]),
    ("cap 30", ["cap: '30' is not a power like"]),
    ("cap rack-a01 lots", ["cap: 'lots' is not a power like"]),
    ("cap 150%", ["cap: the share must be above 0% and at most 100%", "150%"]),
    ("cap 0%", ["cap: the share must be above 0%"]),
    ("cap 0MW", ["cap: the limit must be above 0kW"]),
    ("cap -5MW", ["cap: the limit must be above 0kW"]),
    ("cap 30MW 20MW", ["cap: too many words: '20MW'"]),
    ("uncap 80%", ["uncap: expected a target like 'rack-a01'", "'80%'"]),
    ("uncap row-a row-b", ["uncap: too many words: 'row-b'"]),
    ("swap row-b", ["swap: missing GPU"]),
    ("swap", ["swap: missing target"]),
    ("scale llama-70b", ["scale: missing replica count"]),
    ("scale llama-70b four", ["scale: 'four' is not a whole number of replicas"]),
    ("scale llama-70b 1.5", ["scale: '1.5' is not a whole number of replicas"]),
    ("scale llama-70b -1", ["scale: replicas must be a whole number, 0 or more"]),
    ("scale llama-70b 4 now", ["scale: too many words: 'now'", "usage: scale DEPLOYMENT N"]),
    ("surge", ["surge: missing factor"]),
    ("surge big", ["surge: 'big' is not a factor"]),
    ("surge 0", ["surge: the factor must be above 0"]),
    ("surge 2 0s", ["surge: the duration must be longer than 0s"]),
    ("surge 2 10q", ["surge: '10q' is not a duration like"]),
    (
        "surge 2 chat 10m",
        ["surge: too many words: '10m'", "usage: surge FACTOR [DURATION] [CLASS]"],
    ),
    ("faults", ["faults: missing 'on' or 'off'"]),
    ("faults maybe", ["faults: expected 'on' or 'off', got 'maybe'"]),
    ("speed", ["speed: missing factor"]),
    ("speed warp", ["speed: 'warp' is not a speed factor or 'max'"]),
    ("speed 0", ["speed: the factor must be above 0"]),
    ("speed nan", ["speed: 'nan' is not a speed factor"]),
    ("pause now", ["pause: too many words: 'now'"]),
    ("resume 2", ["resume: too many words: '2'"]),
    ("save", ["save: missing file"]),
    ("save my drill.yaml", ["save: too many words: 'drill.yaml'"]),
    ("ack e1 e2", ["ack: too many words: 'e2'"]),
]


@pytest.mark.parametrize(
    ("line", "expected"), BAD_LINES, ids=[b[0] or "<empty>" for b in BAD_LINES]
)
def test_a_bad_line_is_refused_with_one_line_naming_the_command(line, expected):
    with pytest.raises(CommandError) as caught:
        parse_command(line)
    message = str(caught.value)
    assert "\n" not in message
    for words in expected:
        assert words in message
    verb = line.strip().removeprefix(":").split()[0].lower() if line.strip(" :") else None
    if verb in VERBS:
        assert message.startswith(f"{verb}: ")


def test_a_command_error_is_a_twin_error_so_front_ends_show_it_without_a_traceback():
    assert issubclass(CommandError, TwinError)


def test_values_built_in_code_are_checked_like_parsed_ones():
    with pytest.raises(CommandError, match="^route: unknown policy 'rr'"):
        Route("rr")
    with pytest.raises(CommandError, match="^cap: give a power or a percentage, not both"):
        Cap("rack-a01", 40.0, 0.8)
    with pytest.raises(CommandError, match="^degrade:"):
        Degrade("link-1", 0.0)
    with pytest.raises(CommandError, match="^scale:"):
        Scale("m", True)  # type: ignore[arg-type]
    with pytest.raises(CommandError, match="^fail:"):
        Fail("pdu-3", float("inf"))


@pytest.mark.parametrize(
    "value",
    [
        Fail("pdu-3", 0.25),
        Fail("pdu-3", 5400.0),
        Fail("pdu-3", 86400.0 * 3),
        Cap(None, 1234.5),
        Cap(None, 0.001),
        Cap("row-a", fraction=0.123),
        Cap(None, fraction=1 / 3),
        Degrade("l", 0.333),
        Surge(1.1, 45.5, "reasoning"),
        Straggle("n", 1.25),
        Speed(1e-3),
    ],
)
def test_awkward_numbers_still_print_lines_that_parse_back_exactly(value):
    assert parse_command(value.text) == value


IDS = ["pdu-1", "pdu-2", "pdu-3", "rack-a01", "rack-a02", "row-a", "row-b", "spine-1", "spine-2"]


def test_an_empty_line_completes_to_every_verb_in_order():
    assert complete("", IDS) == sorted(VERBS)


def test_a_partly_typed_verb_completes_to_the_verbs_it_starts():
    assert complete("f", IDS) == ["fail", "faults"]
    assert complete("un", IDS) == ["uncap", "undrain"]
    assert complete("RE", IDS) == ["repair", "resume"]
    assert complete("zz", IDS) == []


def test_completion_keeps_a_leading_colon():
    assert complete(":sa", IDS) == [":save"]


def test_a_target_completes_from_the_component_ids():
    assert complete("fail pdu", IDS) == ["fail pdu-1", "fail pdu-2", "fail pdu-3"]
    assert complete("drain ", IDS) == [f"drain {i}" for i in IDS]
    assert complete("fail PDU-3", IDS) == ["fail pdu-3"]


def test_fail_offers_for_after_the_target():
    assert complete("fail pdu-3 ", IDS) == ["fail pdu-3 for"]
    assert complete("fail pdu-3 for ", IDS) == []


def test_route_completes_to_the_policies():
    assert complete("route ", IDS) == sorted(f"route {p}" for p in POLICIES)
    assert complete("route kv", IDS) == ["route kv-aware"]


def test_swap_completes_the_target_then_the_gpu():
    gpus = ["b200", "gb200-nvl72", "gb300-nvl72", "h100"]
    assert complete("swap row", IDS, gpus=gpus) == ["swap row-a", "swap row-b"]
    assert complete("swap row-b gb", IDS, gpus=gpus) == [
        "swap row-b gb200-nvl72",
        "swap row-b gb300-nvl72",
    ]


def test_scale_completes_deployments_and_surge_completes_request_classes():
    assert complete("scale ll", IDS, deployments=["llama-70b", "deepseek-r1"]) == [
        "scale llama-70b"
    ]
    classes = ["agentic", "chat", "reasoning"]
    assert complete("surge 2 ", IDS, workloads=classes) == [
        "surge 2 agentic",
        "surge 2 chat",
        "surge 2 reasoning",
    ]
    assert complete("surge 2 10m c", IDS, workloads=classes) == ["surge 2 10m chat"]
    assert complete("surge 2 chat ", IDS, workloads=classes) == []


def test_cap_offers_targets_and_off_but_nothing_after_a_site_limit():
    assert complete("cap ", ["rack-a01"]) == ["cap off", "cap rack-a01"]
    assert complete("cap rack-a01 ", ["rack-a01"]) == ["cap rack-a01 off"]
    assert complete("cap 80% ", ["rack-a01"]) == []
    assert complete("cap off ", ["rack-a01"]) == []


def test_keyword_arguments_complete():
    assert complete("faults o", IDS) == ["faults off", "faults on"]
    assert complete("speed m", IDS) == ["speed max"]
    assert complete("ack ", IDS) == ["ack all"]


def test_an_unknown_verb_or_a_finished_line_completes_to_nothing():
    assert complete("fial ", IDS) == []
    assert complete("repair pdu-3 ", IDS) == []
    assert complete("pause ", IDS) == []


def test_completion_is_capped_at_fifty_sorted_candidates_and_accepts_generators():
    many = (f"gpu-r{r:02d}-{n}-{g}" for r in range(20) for n in range(4) for g in range(8))
    out = complete("fail gpu-r", many)
    assert len(out) == 50
    assert out == sorted(out)
    assert out[0] == "fail gpu-r00-0-0"


def test_every_completed_line_for_a_full_command_parses():
    routes, faults = complete("route ", IDS), complete("faults ", IDS)
    caps = complete("cap rack-a01 ", IDS)
    assert routes == sorted(f"route {p}" for p in POLICIES)
    assert faults == ["faults off", "faults on"] and caps == ["cap rack-a01 off"]
    for line in routes + faults + caps:
        assert parse_command(line).text == line
    assert [parse_command(r).policy for r in routes] == sorted(POLICIES)
    assert [parse_command(x).enabled for x in faults] == [False, True]
    cap = parse_command(caps[0])
    assert cap.target == "rack-a01" and cap.limit_kw is None and cap.fraction is None
