"""The launcher re-executes the command once with glibc's huge pages, and only where they can help."""
import os
import subprocess
import sys

import pytest

from temu_gen import launch


@pytest.fixture
def thp_helps(monkeypatch):
    monkeypatch.setattr(launch, "_glibc_version", lambda: (2, 36))
    monkeypatch.setattr(launch, "_thp_only_when_advised", lambda: True)


ARGV = ["/usr/bin/python3", "-X", "utf8", "-m", "temu_gen", "--workers", "2"]  # python -X utf8 -m temu_gen ...
MODULE_ARGV = ["/site/temu_gen/__main__.py", "--workers", "2"]


def test_adds_the_tunable_and_keeps_the_command_line(thp_helps):
    program, argv, env = launch.relaunch_args({"HOME": "/h"}, "/venv/bin/python", ARGV, MODULE_ARGV)
    assert program == "/venv/bin/python"
    assert argv == ["/venv/bin/python", "-X", "utf8", "-m", "temu_gen", "--workers", "2"]
    assert env == {"HOME": "/h", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "TEMU_GEN_HUGEPAGES": "relaunched"}


def _console_script(folder, interpreter: str = "/venv/bin/python"):
    script = folder / "temu-gen"
    script.write_text(f"#!{interpreter}\n")
    script.chmod(0o755)
    return script


def test_a_console_script_runs_again_as_itself(thp_helps, tmp_path):
    """The kernel names a #! script's process after the script: re-executed as itself, it is still ``temu-gen``."""
    script = _console_script(tmp_path)
    program, argv, _ = launch.relaunch_args({}, "/venv/bin/python", ["/venv/bin/python", str(script), "-h"],
                                            [str(script), "-h"])
    assert (program, argv) == (str(script), [str(script), "-h"])


def test_a_script_for_another_python_runs_again_under_this_one(thp_helps, tmp_path):
    """``python3.12 /venv/bin/temu-gen``: its #! names another interpreter, which may hold another temu_gen."""
    script = _console_script(tmp_path)
    program, argv, _ = launch.relaunch_args({}, "/usr/bin/python3.12", ["/usr/bin/python3.12", str(script), "-h"],
                                            [str(script), "-h"])
    assert (program, argv) == ("/usr/bin/python3.12", ["/usr/bin/python3.12", str(script), "-h"])
    folder = ["/usr/bin/python3", str(tmp_path)]  # python runs a folder's __main__.py: the folder is no program
    assert launch.relaunch_args({}, "/usr/bin/python3", folder, folder[1:])[0] == "/usr/bin/python3"


def test_keeps_the_users_own_tunables(thp_helps):
    _, _, env = launch.relaunch_args({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "/p", ARGV, MODULE_ARGV)
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


@pytest.mark.parametrize("environ, executable, orig_argv, argv", [
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, "/p", ARGV, MODULE_ARGV),  # the user's own setting
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "/p", ARGV, MODULE_ARGV),
    ({"TEMU_GEN_HUGEPAGES": "off"}, "/p", ARGV, MODULE_ARGV),
    # the re-executed process, even where glibc dropped the tunable (a privileged interpreter): never twice
    ({"TEMU_GEN_HUGEPAGES": "relaunched"}, "/p", ARGV, MODULE_ARGV),
    ({}, "", ARGV, MODULE_ARGV),  # an embedded interpreter: nothing to run again
    ({}, "/p", ["python"], [""]),
    ({}, "/p", ["python", "-u", "-"], ["-"]),  # a program read from stdin cannot be read twice
    ({}, "/p", ["python", "-u"], [""]),  # nor one piped in without a "-"
])
def test_leaves_the_process_alone(thp_helps, environ, executable, orig_argv, argv):
    assert launch.relaunch_args(environ, executable, orig_argv, argv) is None


@pytest.mark.parametrize("glibc, advised", [((2, 34), True), ((0, 0), True), ((2, 36), False)])
def test_only_where_the_tunable_exists_and_thp_waits_for_advice(monkeypatch, glibc, advised):
    monkeypatch.setattr(launch, "_glibc_version", lambda: glibc)
    monkeypatch.setattr(launch, "_thp_only_when_advised", lambda: advised)
    assert launch.relaunch_args({}, "/p", ARGV, MODULE_ARGV) is None


def test_a_privileged_interpreter_is_not_relaunched_for_ever(thp_helps):
    """glibc removes GLIBC_TUNABLES from a privileged process's environment: the marker still stops a second exec."""
    _, _, env = launch.relaunch_args({}, "/p", ARGV, MODULE_ARGV)
    env.pop("GLIBC_TUNABLES")
    assert launch.relaunch_args(env, "/p", ARGV, MODULE_ARGV) is None


def test_the_command_runs_once_more_with_huge_pages_on_this_machine():
    code = ("import os, sys\n"
            "print(os.environ.get('GLIBC_TUNABLES'), flush=True)\n"
            "sys.argv = ['temu-gen', '--version']\n"
            "from temu_gen.launch import entry\n"
            "entry()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "TEMU_GEN_HUGEPAGES")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if launch._glibc_version() >= (2, 35) and launch._thp_only_when_advised():
        assert lines[:2] == ["None", launch.TUNABLE]  # this process, then the one it became: once
    else:
        assert lines[:1] == ["None"] and len(lines) == 2
    assert lines[-1].startswith("temu-gen ")


def test_the_console_script_keeps_its_process_name(tmp_path):
    """``pgrep temu-gen`` and ``killall temu-gen`` find the command after the re-exec (the kernel's name for it)."""
    script = tmp_path / "temu-gen"
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      "open(sys.argv[0] + '.comm', 'a').write(open('/proc/self/comm').read())\n"
                      "from temu_gen.launch import entry\nentry()\n")
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "TEMU_GEN_HUGEPAGES")}
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("temu-gen "), done.stderr
    names = (tmp_path / "temu-gen.comm").read_text().split()
    relaunched = launch._glibc_version() >= (2, 35) and launch._thp_only_when_advised()
    assert names == (["temu-gen", "temu-gen"] if relaunched else ["temu-gen"])
