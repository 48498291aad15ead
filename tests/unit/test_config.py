"""The one settings object: sections and flat names, the loader's sources and checks, and its documentation."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import pytest
from typer.testing import CliRunner

from mie.cli.main import app as cli
from mie.config import (
    FALSE_WORDS,
    FIELD_SECTION,
    NOT_SETTINGS,
    SECTIONS,
    TEST_PREFIX,
    TRUE_WORDS,
    EngineSettings,
    Settings,
    load_settings,
    parse_bool,
    setting_variables,
)
from mie.config.sections import FIELD_TYPES
from mie.config.settings import _Flat
from mie.errors import ConfigurationError
from mie.jobs.config import JobsConfig

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "docs" / "mie.example.toml"


# --- the object --------------------------------------------------------------------------------------------------


def test_every_field_has_a_flat_name_of_its_type_and_names_do_not_collide() -> None:
    flats = {name: value for name, value in vars(Settings).items() if isinstance(value, _Flat)}
    assert set(flats) == set(FIELD_SECTION)
    for name, flat in flats.items():
        assert flat.section == FIELD_SECTION[name]
        (declared,) = get_args(flat.__orig_class__)  # type: ignore[attr-defined]
        assert declared == FIELD_TYPES[name], name
    assert not set(SECTIONS) & set(FIELD_SECTION)


def test_flat_keywords_route_to_their_sections() -> None:
    settings = Settings(workers=2, data_dir=Path("/tmp/x"), smtp_host="mail")
    assert settings.engine.workers == settings.workers == 2
    assert settings.storage.data_dir == settings.data_dir == Path("/tmp/x")
    assert settings.smtp.smtp_host == "mail"
    assert settings == Settings(engine=EngineSettings(workers=2), data_dir=Path("/tmp/x"), smtp_host="mail")
    assert Settings(engine=EngineSettings(workers=3), workers=4).workers == 4
    with pytest.raises(TypeError, match="wrokers"):
        Settings(wrokers=2)
    # The flat names are read-only: the sections are the values.
    with pytest.raises(AttributeError):
        settings.workers = 3  # type: ignore[misc]


def test_with_overrides_reads_values_as_the_environment_does_and_checks_them(tmp_path: Path) -> None:
    base = load_settings(environ={}, data_dir=tmp_path)
    changed = base.with_overrides(watch_enabled="off", job_workers="3", monitor_interval=None)
    assert (changed.watch_enabled, changed.job_workers, changed.monitor_interval) == (False, 3, 10.0)
    assert changed.origin("job_workers") == "override"
    assert changed.origin("data_dir") == "override"  # kept from the load
    assert changed.origin("workers") == "default"
    with pytest.raises(ConfigurationError, match="MIE_JOB_WORKERS must be at least 1"):
        base.with_overrides(job_workers=0)
    with pytest.raises(ConfigurationError, match="unknown setting 'jobworkers'"):
        base.with_overrides(jobworkers=1)


def test_the_watch_folder_defaults_to_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path)
    assert JobsConfig.from_settings(settings).watch_dir == tmp_path / "watch"
    moved = load_settings(environ={"MIE_WATCH_DIR": str(tmp_path / "w")}, data_dir=tmp_path)
    assert JobsConfig.from_settings(moved).watch_dir == tmp_path / "w"


# --- values ------------------------------------------------------------------------------------------------------


def test_booleans_are_read_one_way() -> None:
    for word in TRUE_WORDS | {"TRUE", " On ", "Yes"}:
        assert parse_bool(word, "smtp_ssl") is True
    for word in FALSE_WORDS | {"False", "OFF "}:
        assert parse_bool(word, "smtp_ssl") is False
    for bad in ("maybe", "", "2", "y"):
        with pytest.raises(ConfigurationError, match=r"MIE_SMTP_SSL=.* is not a boolean"):
            parse_bool(bad, "smtp_ssl")
    for name in ("MIE_WATCH_ENABLED", "MIE_SMTP_STARTTLS", "MIE_SEARCH_SEMANTIC"):
        with pytest.raises(ConfigurationError, match=name):
            load_settings(environ={name: "maybe"})
    assert load_settings(environ={"MIE_WATCH_ENABLED": "no"}).watch_enabled is False


def test_numbers_and_paths_are_converted_with_the_variable_in_the_error() -> None:
    settings = load_settings(environ={"MIE_PORT": " 9000 ", "MIE_RETRY_BACKOFF": "1.5", "MIE_DATA_DIR": "/srv/mie"})
    assert (settings.port, settings.retry_backoff, settings.data_dir) == (9000, 1.5, Path("/srv/mie"))
    with pytest.raises(ConfigurationError, match="setting MIE_WORKERS: cannot read 'abc' as int"):
        load_settings(environ={"MIE_WORKERS": "abc"})
    with pytest.raises(ConfigurationError, match="MIE_NOTIFY_BACKOFF"):
        load_settings(environ={"MIE_NOTIFY_BACKOFF": "soon"})


# --- the environment ---------------------------------------------------------------------------------------------


def test_an_unknown_mie_variable_is_an_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ={"MIE_WROKERS": "4"})
    message = caught.value.message
    assert "MIE_WROKERS (did you mean MIE_WORKERS?)" in message
    for variable in setting_variables():
        assert variable in message
    with pytest.raises(ConfigurationError, match="MIE_NOTIFY_ATEMPTS"):
        load_settings(environ={"MIE_NOTIFY_ATEMPTS": "3"})


def test_variables_that_are_not_settings_are_ignored() -> None:
    environ = dict.fromkeys([*NOT_SETTINGS, "MIE_TEST_POSTGRES_URL", "MIE_TEST_ANYTHING"], "x")
    environ.pop("MIE_CONFIG_FILE")
    environ["NOT_MIE_WORKERS"] = "nonsense"
    assert load_settings(environ=environ) == Settings()


def test_every_mie_variable_the_repository_names_is_a_setting_or_ignored() -> None:
    """Tests, scripts, CI, benchmarks and docs set no variable the server would refuse."""
    # Not variables: the docs' naming example and misspelling, and a setting deployment.md says does not exist.
    not_variables = {"MIE_FOO_BAR", "MIE_WROKERS", "MIE_S3_ENDPOINT"}
    known = set(setting_variables()) | set(NOT_SETTINGS) | not_variables
    places = [ROOT / name for name in ("tests", "scripts", ".ci", "bench", "docs", "examples", "src")]
    files = [ROOT / "README.md"] + [f for place in places if place.exists() for f in place.rglob("*") if f.is_file()]
    unknown: dict[str, str] = {}
    for path in files:
        skipped = path == Path(__file__) or (ROOT / "src" / "mie" / "config") in path.parents  # misspelt on purpose
        if skipped or path.suffix in {".png", ".mp4", ".jpg", ".pyc"}:
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        # A name ending in ``_`` or followed by ``*`` is a family (``MIE_SMTP_*``); ``_MIE_X`` is a Python name.
        for match in re.finditer(r"(?<![A-Za-z0-9_])(MIE_[A-Z0-9_]+)(\*?)", text):
            name, family = match.groups()
            if family or name.endswith("_") or name in known or name.startswith(TEST_PREFIX):
                continue
            unknown.setdefault(name, str(path.relative_to(ROOT)))
    assert unknown == {}


# --- the TOML file -----------------------------------------------------------------------------------------------


def _file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "mie.toml"
    path.write_text(text)
    return {"MIE_CONFIG_FILE": str(path)}


def test_the_file_takes_flat_keys_and_section_tables(tmp_path: Path) -> None:
    flat = load_settings(environ=_file(tmp_path, 'workers = 3\nSMTP-HOST = "mail"\n'))
    assert (flat.workers, flat.smtp_host) == (3, "mail")
    sectioned = _file(tmp_path, '[engine]\nworkers = 3\n[operators]\noutbound_allow = ["127.0.0.1", "10.0.0.0/8"]\n')
    settings = load_settings(environ={**sectioned, "MIE_PORT": "9000"}, data_dir=tmp_path)
    assert (settings.workers, settings.outbound_allow) == (3, "127.0.0.1,10.0.0.0/8")
    assert [settings.origin(n) for n in ("workers", "port", "data_dir", "host")] == [
        "file",
        "env",
        "override",
        "default",
    ]
    # The environment wins over the file.
    assert load_settings(environ={**sectioned, "MIE_WORKERS": "5"}).workers == 5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[jobs]\nworkers = 3\n", r"'workers' in \[jobs\] .* \(it belongs in \[engine\]\)"),
        ("[engine]\nwrokers = 3\n", r"unknown setting 'wrokers' in \[engine\]"),
        ("[nowhere]\nworkers = 3\n", "unknown setting in .*: nowhere"),
        ("wrokers = 3\n", r"wrokers \(did you mean workers\?\)"),
        ("workers = 2.5\n", "MIE_WORKERS: cannot read 2.5 as int"),
        ("workers = true\n", "MIE_WORKERS"),
        ("watch_enabled = 'maybe'\n", "MIE_WATCH_ENABLED"),
        ("workers = \n", "cannot read MIE_CONFIG_FILE"),
    ],
)
def test_a_bad_file_is_refused(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        load_settings(environ=_file(tmp_path, text))


# --- checks ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"MIE_JOB_WORKERS": "0"}, "MIE_JOB_WORKERS"),
        ({"MIE_JOB_RETENTION_HOURS": "0"}, "MIE_JOB_RETENTION_HOURS"),
        ({"MIE_WATCH_INTERVAL": "0"}, "MIE_WATCH_INTERVAL"),
        ({"MIE_NOTIFY_ATTEMPTS": "0"}, "MIE_NOTIFY_ATTEMPTS"),
        ({"MIE_NOTIFY_WORKERS": "0"}, "MIE_NOTIFY_WORKERS"),
        ({"MIE_AUTO_ANALYZE_DELAY": "-1"}, "MIE_AUTO_ANALYZE_DELAY"),
        ({"MIE_SMTP_HOST": "mail", "MIE_SMTP_SSL": "on", "MIE_SMTP_STARTTLS": "on"}, "not both"),
        ({"MIE_SMTP_HOST": "mail", "MIE_SMTP_PORT": "70000"}, "MIE_SMTP_PORT"),
        ({"MIE_SMTP_HOST": "mail", "MIE_SMTP_USER": "u"}, "MIE_SMTP_PASSWORD"),
    ],
)
def test_bad_values_stop_the_start(environ: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        load_settings(environ=environ)


def test_smtp_settings_are_checked_only_with_a_host() -> None:
    assert load_settings(environ={"MIE_SMTP_USER": "u"}).smtp_user == "u"


# --- documentation -----------------------------------------------------------------------------------------------


def test_every_setting_is_documented_in_configuration_md() -> None:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    for name in FIELD_SECTION:
        documented = [row for row in rows if f"`{name}`" in row.split("|")[1] and f"`MIE_{name.upper()}`" in row]
        assert documented, f"{name} (MIE_{name.upper()}) has no row in docs/configuration.md"
    for section in SECTIONS:
        assert f"### `[{section}]`" in DOC.read_text()


def test_the_example_file_lists_every_setting_in_its_section_and_loads(tmp_path: Path) -> None:
    data: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())
    assert list(data) == list(SECTIONS)
    for section, cls in SECTIONS.items():
        assert list(data[section]) == [f.name for f in fields(cls)], section
    settings = load_settings(environ={"MIE_CONFIG_FILE": str(EXAMPLE)})
    assert settings == Settings()  # the example shows the defaults
    assert set(settings.origins.values()) == {"file"}


def test_mie_config_shows_every_setting_by_section_with_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("MIE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MIE_WORKERS", "3")
    monkeypatch.setenv("MIE_SMTP_PASSWORD", "hunter2-hunter2")
    result = CliRunner().invoke(cli, ["config", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    listing = tomllib.loads(result.output)  # the listing is TOML
    assert list(listing) == list(SECTIONS)
    assert sum(len(table) for table in listing.values()) == len(FIELD_SECTION)
    lines = result.output.splitlines()
    assert any(re.fullmatch(r"workers = 3 +# env MIE_WORKERS", line) for line in lines)
    assert any(re.fullmatch(rf'data_dir = "{re.escape(str(tmp_path))}" +# command line', line) for line in lines)
    assert any(re.fullmatch(r"port = 8080 +# default", line) for line in lines)
    assert "hunter2-hunter2" not in result.output
    assert listing["smtp"]["smtp_password"] == "hunt…"


def test_mie_config_refuses_an_unknown_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIE_WROKERS", "3")
    result = CliRunner().invoke(cli, ["config", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "MIE_WORKERS" in result.output
