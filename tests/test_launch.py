"""The launcher re-executes the command once with glibc's huge pages, and only where they can help."""
import subprocess
import sys

import pytest

from temu_gen import launch


@pytest.fixture
def thp_helps(monkeypatch):
    monkeypatch.setattr(launch, "_glibc_version", lambda: (2, 36))
    monkeypatch.setattr(launch, "_thp_only_when_advised", lambda: True)


ARGV = ["/usr/bin/python3", "-m", "temu_gen", "--workers", "2"]


def test_adds_the_tunable_and_keeps_the_command_line(thp_helps):
    argv, env = launch.relaunch_args({"HOME": "/h"}, "/venv/bin/python", ARGV)
    assert argv == ["/venv/bin/python", "-m", "temu_gen", "--workers", "2"]
    assert env == {"HOME": "/h", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


def test_keeps_the_users_own_tunables(thp_helps):
    _, env = launch.relaunch_args({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "/p", ARGV)
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


@pytest.mark.parametrize("environ, executable, argv", [
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, "/p", ARGV),  # the re-executed process: never twice
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "/p", ARGV),  # the user chose
    ({"TEMU_GEN_HUGEPAGES": "off"}, "/p", ARGV),
    ({}, "", ARGV),  # an embedded interpreter: nothing to run again
    ({}, "/p", ["python"]),
    ({}, "/p", ["python", "-"]),  # a script read from stdin cannot be read twice
])
def test_leaves_the_process_alone(thp_helps, environ, executable, argv):
    assert launch.relaunch_args(environ, executable, argv) is None


@pytest.mark.parametrize("glibc, advised", [((2, 34), True), ((0, 0), True), ((2, 36), False)])
def test_only_where_the_tunable_exists_and_thp_waits_for_advice(monkeypatch, glibc, advised):
    monkeypatch.setattr(launch, "_glibc_version", lambda: glibc)
    monkeypatch.setattr(launch, "_thp_only_when_advised", lambda: advised)
    assert launch.relaunch_args({}, "/p", ARGV) is None


def test_the_command_runs_once_more_with_huge_pages_on_this_machine():
    code = ("import os, sys\n"
            "print(os.environ.get('GLIBC_TUNABLES'), flush=True)\n"
            "sys.argv = ['temu-gen', '--version']\n"
            "from temu_gen.launch import entry\n"
            "entry()\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GLIBC_TUNABLES", "TEMU_GEN_HUGEPAGES")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if launch._glibc_version() >= (2, 35) and launch._thp_only_when_advised():
        assert lines[:2] == ["None", launch.TUNABLE]  # this process, then the one it became: once
    else:
        assert lines[:1] == ["None"] and len(lines) == 2
    assert lines[-1].startswith("temu-gen ")
