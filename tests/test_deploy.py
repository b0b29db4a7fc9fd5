"""The systemd unit in deploy/ is valid (systemd-analyze verify) and keeps the promised settings."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from dotenv import dotenv_values

UNIT = REPO / "deploy" / "clippings.service"
INSTALLED_PYTHON = "/opt/clippings/bin/python"


def service_settings() -> dict[str, list[str]]:
    # systemd adds repeated keys up (configparser would keep the last), so the lines are read here.
    settings: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#") and "=" in line and section == "Service":
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_pass_systemd_analyze_verify(tmp_path: Path):
    # The bot's unit names the installed interpreter; point it at this one, which exists here.
    names = sorted(path.name for path in (REPO / "deploy").iterdir())
    assert names == ["clippings-backup.service", "clippings-backup.timer", "clippings.service"]
    for name in names:
        text = (REPO / "deploy" / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED_PYTHON, sys.executable))
    result = subprocess.run(
        ["systemd-analyze", "verify", *names], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_unit_restarts_on_failure_in_a_sandbox_with_its_own_state_directory():
    settings = service_settings()
    assert settings["ExecStart"] == [f"{INSTALLED_PYTHON} -m bot"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["EnvironmentFile"] == ["/etc/clippings.env"]
    assert settings["StateDirectory"] == ["clippings"]
    assert settings["Environment"] == ["CLIPPINGS_DB=/var/lib/clippings/clippings.db"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"):
        assert settings[key] == ["yes"], key
    assert settings["ProtectSystem"] == ["strict"]


def test_backup_unit_runs_the_online_backup_of_the_bots_database():
    text = (REPO / "deploy" / "clippings-backup.service").read_text()
    assert "/opt/clippings/bin/clippings --db /var/lib/clippings/clippings.db backup" in text
    assert "OnCalendar=daily" in (REPO / "deploy" / "clippings-backup.timer").read_text()


def test_the_env_example_database_is_the_units_database_although_the_env_file_overrides_the_unit():
    # systemd applies EnvironmentFile= over Environment=: /etc/clippings.env, made from .env.example,
    # names the database the bot opens, from the unit's working directory.
    settings = service_settings()
    from_env_file = dotenv_values(REPO / ".env.example")["CLIPPINGS_DB"]
    opened = Path(settings["WorkingDirectory"][0]) / str(from_env_file)
    assert (str(opened), settings["Environment"]) == (
        "/var/lib/clippings/clippings.db",
        ["CLIPPINGS_DB=/var/lib/clippings/clippings.db"],
    )
    backup_unit = (REPO / "deploy" / "clippings-backup.service").read_text()
    assert f"--db {opened} backup" in backup_unit


def test_backup_unit_removes_the_backups_older_than_14_days_and_keeps_the_younger(tmp_path):
    text = (REPO / "deploy" / "clippings-backup.service").read_text()
    (command,) = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStartPost=")]
    now = time.time()
    for name, days in (("clippings-a.db", 13.5), ("clippings-b.db", 14.5), ("clippings-c.db", 20)):
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, (now - days * 86400, now - days * 86400))
    argv = shlex.split(command.replace("/var/lib/clippings/backups", str(tmp_path)))
    subprocess.run(argv, check=True, timeout=60)
    assert sorted(os.listdir(tmp_path)) == ["clippings-a.db"]


def test_unit_leaves_proc_cpuinfo_readable_for_the_learned_rankers_onnxruntime():
    # ProcSubset=pid hides /proc/cpuinfo: onnxruntime then logs "Error in cpuinfo: failed to parse
    # processor information from /proc/cpuinfo" and a warning that it may run slower, at every start.
    settings = service_settings()
    assert (settings.get("ProcSubset", ["all"]), settings["ProtectProc"]) == (["all"], ["invisible"])
