import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy, so a stale build/ or egg-info in the checkout cannot hide a missing file.
    source = tmp_path_factory.mktemp("src") / "kaohe"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        cwd=out,
    )
    (found,) = out.glob("kaohe-*.whl")
    return found


def test_wheel_carries_templates_static_files_migrations_campaign_and_roster(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").iterdir():
        assert f"templates/{template.name}" in names
    for asset in (ROOT / "static").iterdir():
        assert f"static/{asset.name}" in names
    for migration in (ROOT / "storage" / "migrations" / "versions").glob("*.py"):
        assert f"storage/migrations/versions/{migration.name}" in names
    assert {
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
        "campaigns/luoyang-2013.toml",
        "samples/roster/units.csv",
        "samples/roster/people.csv",
        "bot/cli.py",
        "handlers/dispatch.py",
        "schedules/runner.py",
        "storage/models.py",
    } <= names
    assert not any(name.startswith(("tests/", "benchmarks/", "kaohe/")) for name in names)


def test_installed_wheel_runs_demo_and_renders_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    # The project's dependencies come from the test environment (PYTHONPATH skips its editable .pth);
    # the project's own code must come from the wheel.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": sysconfig.get_paths()["purelib"], "HOME": str(tmp_path)}
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import bot, storage.render as r; print(bot.__file__);"
            "print(r.render('help.txt', role='clerk', name='张三', unknown=False, text='', unit=None, locked=None))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout
    assert "填报" in where.stdout
    demo = subprocess.run([str(venv / "bin" / "kaohe"), "demo"], cwd=work, env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    assert (work / "var" / "demo-campaign.toml").is_file()
    assert (work / "var" / "kaohe.db").is_file()
