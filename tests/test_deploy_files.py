"""The files under deploy/ are checked by the tools that will read them: systemd-analyze for the units,
caddy for the Caddyfile, promtool for the alert rules and the Prometheus config; the environment file
loads as settings; the scripts run against stand-ins for systemctl and curl; the Dockerfile copies what
exists. The container image itself is built by deploy/docker/check.sh where a runtime exists (not in CI)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.serving.drain import HANDOVER_SECS
from bot.settings import Settings, load_settings
from tests.conftest import PROJECT

DEPLOY = PROJECT / "deploy"
ENV_FILE = DEPLOY / "bot.env.example"


def needs(tool: str, package: str):
    return pytest.mark.skipif(
        shutil.which(tool) is None, reason=f"needs {tool} (Debian's {package}; bash scripts/run.sh test installs it)"
    )


def env_file() -> dict[str, str]:
    values = {}
    for number, line in enumerate(ENV_FILE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"line {number}: not KEY=value: {line!r}"
        # systemd and `docker --env-file` keep everything after "=": a comment or quotes would become the value.
        assert "#" not in value and not value.startswith(("'", '"')), f"line {number}: {line!r}"
        values[key] = value
    return values


def test_the_environment_file_holds_real_settings_that_load(tmp_path, monkeypatch):
    values = env_file()
    known = {field.validation_alias for field in Settings.model_fields.values()}
    assert set(values) <= known, set(values) - known
    assert not {"BOT_PORT", "BOT_HOST"} & set(values)  # each worker's come from its unit
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BOT_DB_PATH", str(tmp_path / "bookings.db"))
    settings = load_settings()
    assert settings.public_url == "https://line.example.com" and settings.max_calls == 6


def test_systemd_gives_a_drain_time_to_finish():
    unit = (DEPLOY / "systemd" / "phone-booking-bot@.service").read_text()
    timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE).group(1))
    values = env_file()
    drain = float(values["BOT_DRAIN_NOTICE_SECS"]) + float(values["BOT_DRAIN_SECS"]) + HANDOVER_SECS
    assert timeout > drain, f"systemd would SIGKILL a worker {drain - timeout:.0f} s before its drain can end"


@needs("systemd-analyze", "systemd")
def test_the_systemd_units_verify(tmp_path):
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/phone-booking-bot/current", str(PROJECT))
        name = unit.name.replace("@.service", "@8765.service")
        (tmp_path / name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    checked = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60, check=False)
    ours = [line for line in (checked.stdout + checked.stderr).splitlines() if "phone-booking-bot" in line]
    assert checked.returncode == 0 and not ours, checked.stdout + checked.stderr


@needs("caddy", "caddy")
def test_the_caddyfile_is_valid(tmp_path):
    for name in ("Caddyfile", "phone-line.caddy"):
        shutil.copy(DEPLOY / "caddy" / name, tmp_path / name)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    checked = subprocess.run(
        ["caddy", "validate", "--config", "Caddyfile", "--adapter", "caddyfile"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert checked.returncode == 0, checked.stderr[-2000:]


@needs("promtool", "prometheus")
@pytest.mark.parametrize(
    "check", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"], ["check", "config", "prometheus.yml"]],
    ids=["rules", "rule-tests", "config"],
)
def test_promtool_passes_the_alert_rules_and_their_tests(check):
    checked = subprocess.run(["promtool", *check], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_metric_the_alerts_watch_is_one_the_server_exports():
    import server  # noqa: F401 - registers every metric, the fallbacks' included
    from bot.metrics import METRICS

    exported = set(re.findall(r"^# TYPE (\w+) ", METRICS.render()[0].decode(), re.MULTILINE))
    for rule in alert_rules():
        for name in re.findall(r"\bbot_\w+", rule["expr"]):
            histogram = re.sub(r"_(bucket|count|sum)$", "", name)
            assert {name, histogram} & exported, f"{rule['alert']} watches {name}, which /metrics does not have"


def test_the_runbook_has_a_section_for_every_alert():
    runbook = (PROJECT / "docs" / "operations.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
               for heading in re.findall(r"^#+ (.+)$", runbook, re.MULTILINE)}
    for rule in alert_rules():
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, rule["alert"]


def fake_tools(tmp_path, ready: bool = True) -> tuple[dict, Path]:
    """systemctl and curl stand-ins on PATH, recording what they were asked."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(
        f'#!/bin/sh\necho "systemctl $*" >> {log}\n'
        'if [ "$1" = list-units ]; then echo "phone-booking-bot@8765.service loaded active running x";'
        ' echo "phone-booking-bot@8766.service loaded active running x"; fi\n'
    )
    (bin_dir / "curl").write_text(f'#!/bin/sh\necho "curl $*" >> {log}\nexit {0 if ready else 7}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "READY_SECS": "2"}, log


def test_the_rolling_restart_restarts_one_worker_at_a_time_once_the_last_is_ready(tmp_path):
    env, log = fake_tools(tmp_path)
    done = subprocess.run(["bash", str(DEPLOY / "rolling-restart.sh")], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    steps = [line.split()[:2] + line.split()[-1:] for line in log.read_text().splitlines()]
    assert [s for s in steps if s[1] == "restart" or s[0] == "curl"] == [
        ["systemctl", "restart", "phone-booking-bot@8765"], ["curl", "-fsS", "http://127.0.0.1:8765/readyz"],
        ["systemctl", "restart", "phone-booking-bot@8766"], ["curl", "-fsS", "http://127.0.0.1:8766/readyz"],
    ]


def test_the_rolling_restart_stops_at_a_worker_that_does_not_come_back(tmp_path):
    env, log = fake_tools(tmp_path, ready=False)
    done = subprocess.run(["bash", str(DEPLOY / "rolling-restart.sh"), "8765", "8766"], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1 and "8765 is not ready" in done.stderr
    assert "phone-booking-bot@8766" not in log.read_text()  # the other worker is left alone


def test_a_rollback_switches_to_the_previous_release(tmp_path):
    root = tmp_path / "opt"
    for name in ("r1", "r2"):
        (root / "releases" / name).mkdir(parents=True)
    (root / "current").symlink_to(root / "releases" / "r2")
    env = {**os.environ, "ROOT": str(root), "NO_RESTART": "1"}
    script = str(DEPLOY / "release.sh")
    refused = subprocess.run(["bash", script, "rollback"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 1 and "No previous release" in refused.stderr
    (root / "previous").symlink_to(root / "releases" / "r1")
    done = subprocess.run(["bash", script, "rollback"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert (root / "current").resolve() == root / "releases" / "r1"
    assert (root / "previous").resolve() == root / "releases" / "r2"
    listed = subprocess.run(["bash", script, "list"], env=env, capture_output=True, text=True, timeout=30, check=False).stdout
    assert "* r1" in listed and "  r2" in listed


def test_the_dockerfile_copies_what_exists_and_stops_by_draining():
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for source in sources.split():
            assert (PROJECT / source).exists(), source
    assert re.search(r'^CMD \["python", "-m", "bot", "serve"\]$', dockerfile, re.MULTILINE)
    assert "STOPSIGNAL SIGTERM" in dockerfile and "/healthz" in dockerfile and "--stop-timeout" in dockerfile
    ignored = [line for line in (PROJECT / ".dockerignore").read_text().splitlines() if not line.startswith("#")]
    assert {".venv", "recordings", "tests", ".git"} <= set(ignored)
    assert not {"bot", "flows", "processors", "server.py"} & set(ignored)


def test_every_message_the_troubleshooting_page_explains_is_one_the_code_prints():
    code = "\n".join(p.read_text() for root in ("bot", "processors") for p in (PROJECT / root).rglob("*.py"))
    code += (PROJECT / "server.py").read_text()
    page = (PROJECT / "docs" / "troubleshooting.md").read_text()
    messages = re.findall(r"^### `(.+)`$", page, re.MULTILINE)
    assert len(messages) >= 25
    for message in messages:
        pieces = [p.strip() for p in re.split(r"…|[():;,']", message) if p.strip()]
        phrases = [p for p in pieces if " " in p] or [p for p in pieces if len(p) >= 6]
        assert phrases, message
        for phrase in phrases:
            assert phrase in code, f"troubleshooting.md explains {message!r}, but no code prints {phrase!r}"


def test_a_release_is_installed_beside_the_running_one_and_a_broken_one_is_not_switched_to(tmp_path):
    """release.sh install against a stand-in project whose set-up (scripts/run.sh) passes, then one whose fails."""
    def git(*args, cwd):
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30,
                       env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@t"})

    upstream = tmp_path / "upstream"
    (upstream / "scripts").mkdir(parents=True)
    (upstream / "scripts" / "run.sh").write_text('[ "$*" = "flows check" ] && echo set up\n')
    git("init", "-q", "-b", "main", cwd=upstream)
    git("add", ".", cwd=upstream)
    git("commit", "-q", "-m", "good", cwd=upstream)
    git("tag", "v1", cwd=upstream)
    root = tmp_path / "opt"
    root.mkdir()
    git("clone", "-q", str(upstream), str(root / "repo"), cwd=tmp_path)
    env = {**os.environ, "ROOT": str(root), "NO_RESTART": "1"}
    script = str(DEPLOY / "release.sh")

    done = subprocess.run(["bash", script, "install", "v1"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    first = (root / "current").resolve()
    assert first.parent == root / "releases" and (first / "scripts" / "run.sh").is_file()

    (upstream / "scripts" / "run.sh").write_text("exit 1\n")  # the next release does not set up
    git("commit", "-q", "-am", "broken", cwd=upstream)
    failed = subprocess.run(["bash", script, "install", "main"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 1 and "did not set up" in failed.stderr
    assert (root / "current").resolve() == first and not (root / "previous").exists()
