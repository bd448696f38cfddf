"""Config loading: defaults valid, partial files merge, bad input names path, value and fix."""
import json

import pytest

from temu_gen import config
from temu_gen.errors import ConfigError


def test_default_config_is_complete_and_frozen(default_cfg):
    assert default_cfg.run.events == 2_100_000 and default_cfg.run.chunk_size == 500_000
    states = default_cfg.geography.states
    assert len(states) == 37 and "FCT" in {s.name for s in states} and {s.region for s in states} == {
        r.name for r in default_cfg.geography.regions}
    with pytest.raises(Exception):
        default_cfg.run = None


def test_repo_config_is_the_packaged_one():
    from paths import ROOT
    assert json.loads((ROOT / "config" / "default.json").read_text()) == config.default_document()
    assert json.loads((ROOT / "config" / "schema.json").read_text()) == config.schema_document()


def test_the_embedded_default_passes_the_published_schema():
    """What lets loading the default alone skip jsonschema (config.load): checked here instead of in every run."""
    import jsonschema

    jsonschema.Draft202012Validator(config.schema_document()).validate(config.default_document())


def test_loading_the_default_imports_no_jsonschema_and_a_file_is_still_checked(tmp_path):
    import subprocess
    import sys

    _write(tmp_path, {"funnel": {"p_wishlist": 2}})
    code = ("import sys\nfrom temu_gen import config\nconfig.load(None)\nprint('jsonschema' in sys.modules)\n"
            "try:\n    config.load('c.json')\nexcept config.ConfigError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    skipped, error = done.stdout.splitlines()
    assert skipped == "False" and "funnel.p_wishlist = 2" in error


def _write(tmp_path, doc):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def test_partial_file_overrides_only_what_it_names(tmp_path, default_cfg):
    cfg = config.load(_write(tmp_path, {"funnel": {"p_wishlist": 0.5}, "geography": {"states": {"Lagos": {"weight": 0.5}}}}))
    assert cfg.funnel.p_wishlist == 0.5
    assert cfg.funnel.p_search == default_cfg.funnel.p_search
    lagos = next(s for s in cfg.geography.states if s.name == "Lagos")
    before = next(s for s in default_cfg.geography.states if s.name == "Lagos")
    assert lagos.weight == 0.5 and lagos.cities == before.cities and lagos.urban_share == before.urban_share
    assert cfg.config_hash != default_cfg.config_hash


@pytest.mark.parametrize("doc,needle", [
    ({"funnel": {"p_add_to_cart": 1.5}}, "$.funnel.p_add_to_cart = 1.5"),
    ({"run": {"compression": "brotli"}}, "$.run.compression"),
    ({"funnel": {"p_logn": 0.1}}, "p_logn"),
    ({"time": {"hourly_weights_wat": [1, 2]}}, "$.time.hourly_weights_wat"),
    ({"catalog": {"categories": {"x": {"weight": 1, "median_price_ngn": 100, "p90_price_ngn": 50,
                                       "search_terms": ["a"]}}}}, "p90_price_ngn = 50"),
    ({"fulfilment": {"dispatch_days_min": 5, "dispatch_days_max": 1}}, "$.fulfilment.dispatch_days_max = 1"),
    ({"time": {"calendar": [{"name": "x", "start": "2024-12-02", "end": "2024-12-01", "session_multiplier": 1,
                             "order_multiplier": 1}]}}, "$.time.calendar[0].end"),
    ({"period": {"start": "2024-02-30"}}, "$.period.start"),
    ({"funnel": {"think_time_median_seconds": {"checkout_clicked": 3}}}, "not an event type"),
    ({"payments": {"methods": {"pay_on_delivery": {"wieght": 0.3}}}},
     "unknown key 'wieght' in payments.methods.pay_on_delivery (value 0.3); did you mean 'weight'?"),
    ({"payments": {"methods": {"pay_on_delivry": {"weight": 0.4}}}},  # a misspelt entry reads as a new one
     "$.payments.methods.pay_on_delivry = {\"weight\": 0.4}: no such entry, and a new one needs every field "
     "('first_attempt_failure' is a required property); did you mean 'pay_on_delivery'?"),
    ({"geography": {"states": {"Lagos": {"region": "middle_earth"}}}}, "not a region of $.geography.regions"),
    ({"time": {"calendar": [{"name": "x", "start": "2024-12-01", "end": "2024-12-02", "session_multiplier": 1,
                             "order_multiplier": 1, "states": ["Atlantis"]}]}}, "not a state"),
    ({"devices": {"networks": {"rural": {"4G": 1, "6G": 1}}}}, "same networks in the same order"),
])
def test_bad_values_name_the_path(tmp_path, doc, needle):
    with pytest.raises(ConfigError) as e:
        config.load(_write(tmp_path, doc))
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("doc", [{"period": {"start": "2024-02-30"}},
                                 {"fulfilment": {"dispatch_days_min": 5, "dispatch_days_max": 1}}])
def test_a_check_past_the_schema_names_the_file_too(tmp_path, doc):
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value).startswith(f"{path}: $.")


def test_unreadable_inputs(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        config.load(_write(tmp_path, "{nope"))
    with pytest.raises(ConfigError, match="expected a JSON object"):
        config.load(_write(tmp_path, "[1, 2]"))


def test_run_overrides_are_checked(default_cfg):
    assert default_cfg.with_run(events=10, chunk_size=None).run.events == 10
    with pytest.raises(ConfigError, match="events = 0"):
        default_cfg.with_run(events=0)
    with pytest.raises(ConfigError, match="unknown codec"):
        default_cfg.with_run(compression="brotli")


def _number_leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _number_leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _number_leaves(v, path + (i,))
    elif type(value) in (int, float):
        yield path


def test_any_number_gives_the_kernels_the_types_they_are_shipped_for():
    """``5`` for ``5.0`` once made every worker compile its kernels again (80 s, 4 GB), silently; so did ``92.0``
    for ``92``, and ``7.5`` where the default has ``7`` (transit days). Each number of the default is spelled the
    other way in turn (rounded where it has a fraction), and each whole number is given a fraction."""
    import copy

    import numba

    from temu_gen.params import build_params

    base = config.default_document()
    types = numba.typeof(build_params(config.parse(copy.deepcopy(base)))[0])
    tried = fractions = 0
    for path in _number_leaves(base):
        v = _at(base, path)
        variants = [float(v) if type(v) is int else int(round(v))] + ([v + 0.5] if type(v) is int else [])
        for new in variants:
            doc = copy.deepcopy(base)
            _at(doc, path[:-1])[path[-1]] = new
            try:
                cfg = config.parse(doc)
            except ConfigError:  # a whole-number field, or a cross-field rule (a min above its max): not this case
                continue
            tried += 1
            fractions += new != int(new)
            assert numba.typeof(build_params(cfg)[0]) == types, f"{'.'.join(map(str, path))} = {new!r}"
            assert cfg.document == doc  # the document, and so its hash, keeps what was written
    assert tried > 100 and fractions > 30


def _at(doc, path):
    for k in path:
        doc = doc[k]
    return doc
