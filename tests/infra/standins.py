"""Stand-ins for the Amazon Linux tools the runner's user data calls, for the offline bootstrap rehearsal.

Each stand-in records its arguments (one JSON line in ``$STANDIN_LOG``) and does what the
rehearsal needs of the real tool, no more:

* ``aws``: the CLI subset the user data uses (``s3 cp`` up, down, recursive and from stdin,
  ``s3 rm``, ``s3api head-object``) through boto3 against ``$AWS_ENDPOINT_URL``; anything
  else fails, so a typo in the user data fails the rehearsal;
* ``systemctl``: ``daemon-reload``, ``enable [--now] UNIT...``, ``start [--no-block]``, ``poweroff``,
  ``is-system-running``. Starting a service reads its unit file, runs ``ExecStart`` with the
  unit's ``EnvironmentFile``/``Environment``/``WorkingDirectory``, appends its output to the journal, then
  runs ``ExecStopPost`` with ``SERVICE_RESULT``/``EXIT_STATUS`` as systemd sets them.
  Unlike systemd it runs as the caller's user and passes the caller's ``AWS_*`` variables on,
  standing in for the instance profile and the real S3 endpoint. A ``Type=oneshot`` service runs
  synchronously (even with ``--no-block``); any other (the Dask scheduler and workers) runs in the
  background under a supervisor process of its own session, whose process group id is appended to
  ``$STANDIN_LOG.pgids`` so the test can kill what is left. ``Restart=`` is not honoured;
* ``mount -t nfs4 ... SRC DIR``: ``DIR`` becomes a link to ``$STANDIN_SHARE``, the folder every
  rehearsed node shares, as EFS is shared by the nodes of a cluster;
* ``dnf``, ``useradd``, ``runuser``, ``logger``, ``chown``: record; ``useradd`` creates the home folder,
  ``runuser -u USER -- CMD`` runs CMD as the caller, ``logger`` appends to the journal.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

UNIT_ROOT = "etc/systemd/system"


def _record(tool: str, args: list[str], **extra) -> None:
    with open(os.environ["STANDIN_LOG"], "a") as f:
        f.write(json.dumps({"tool": tool, "args": args, "t": time.time(), **extra}) + "\n")


def _journal(text: str) -> None:
    with open(os.environ["STANDIN_JOURNAL"], "a") as f:
        f.write(text if text.endswith("\n") or not text else text + "\n")


def _s3():
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


def _split(uri: str) -> tuple[str, str]:
    assert uri.startswith("s3://"), f"not an S3 URI: {uri}"
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def aws(args: list[str]) -> int:
    flags = {"--only-show-errors", "--recursive"}
    words = [a for a in args if a not in flags]
    recursive = "--recursive" in args
    s3 = _s3()
    if words[:2] == ["s3", "cp"] and len(words) == 4:
        src, dst = words[2:]
        if src.startswith("s3://") and recursive:
            bucket, prefix = _split(src)
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            for obj in listed:
                target = Path(dst) / obj["Key"][len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(target))
            return 0 if listed else 1
        if src == "-" and not recursive:
            bucket, key = _split(dst)
            s3.put_object(Bucket=bucket, Key=key, Body=sys.stdin.buffer.read())
            return 0
    if words[:2] == ["s3", "rm"] and len(words) == 3 and not recursive:
        bucket, key = _split(words[2])
        s3.delete_object(Bucket=bucket, Key=key)
        return 0
    if words[:2] == ["s3api", "head-object"] and len(words) == 6 and words[2] == "--bucket" and words[4] == "--key":
        try:
            s3.head_object(Bucket=words[3], Key=words[5])
        except s3.exceptions.ClientError:
            return 254  # what AWS CLI v2 returns for a missing key
        return 0
    print(f"aws stand-in: unsupported command: {args}", file=sys.stderr)
    return 252


def _unit(name: str) -> dict[str, list[str]]:
    text = (Path(os.environ["TEMU_GEN_ROOT"]) / UNIT_ROOT / name).read_text()
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def _service_env(unit: dict[str, list[str]]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "STANDIN_"))}
    env.update(PATH=os.environ["PATH"], LANG="C.UTF-8", HOME=unit["WorkingDirectory"][0])
    for path in unit.get("EnvironmentFile", []):
        for line in Path(path).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = v
    for assignment in (a for line in unit.get("Environment", []) for a in shlex.split(line)):
        k, _, v = assignment.partition("=")
        env[k] = v
    return env


def _start(name: str) -> None:
    unit = _unit(name)
    if unit.get("Type", ["simple"])[0] != "oneshot":
        here = str(Path(__file__).resolve().parent)
        code = f"import sys\nsys.path.insert(0, {here!r})\nfrom standins import _run\n_run({name!r})\n"
        proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.environ["STANDIN_LOG"] + ".pgids", "a") as f:
            f.write(f"{proc.pid}\n")
        return
    _run(name)


def _run(name: str) -> None:
    unit = _unit(name)
    env = _service_env(unit)
    cwd = unit["WorkingDirectory"][0]
    _record("systemd", ["run", name], user=unit["User"][0])
    r = subprocess.run(shlex.split(unit["ExecStart"][0].lstrip("+-!")), env=env, cwd=cwd, capture_output=True,
                       text=True)
    _journal(r.stdout + r.stderr)
    result = {"SERVICE_RESULT": "success" if r.returncode == 0 else "exit-code", "EXIT_CODE": "exited",
              "EXIT_STATUS": str(r.returncode)}
    _record("systemd", ["exited", name, str(r.returncode)])
    for cmd in unit.get("ExecStopPost", []):
        post = subprocess.run(shlex.split(cmd.lstrip("+-!")), env={**env, **result}, cwd=cwd, capture_output=True,
                              text=True)
        _journal(post.stdout + post.stderr)


def systemctl(args: list[str]) -> int:
    words = [a for a in args if not a.startswith("--")]
    if words == ["is-system-running"]:
        print("running")
        return 0
    if words in (["daemon-reload"], ["poweroff"]):
        return 0
    if words[:1] == ["enable"] and len(words) >= 2:
        for name in words[1:] if "--now" in args else []:
            if name.endswith(".service"):
                _start(name)
        return 0
    if words[:1] == ["start"] and len(words) == 2 and words[1].endswith(".service"):
        _start(words[1])
        return 0
    print(f"systemctl stand-in: unsupported command: {args}", file=sys.stderr)
    return 1


def runuser(args: list[str]) -> int:
    assert args[0] == "-u" and args[2] == "--", args
    return subprocess.run(args[3:]).returncode


def mount(args: list[str]) -> int:
    assert args[:2] == ["-t", "nfs4"] and args[2] == "-o" and len(args) == 6, args
    target = Path(args[5])
    target.rmdir()  # an empty mount point, as on EC2
    target.symlink_to(os.environ["STANDIN_SHARE"], target_is_directory=True)
    return 0


def useradd(args: list[str]) -> int:
    Path(args[args.index("--home-dir") + 1]).mkdir(parents=True, exist_ok=True)
    return 0


def logger(args: list[str]) -> int:
    words, rest = [], iter(args)
    for a in rest:
        if a in ("-t", "-p"):
            next(rest)
        else:
            words.append(a)
    _journal(" ".join(words) if words else sys.stdin.read())
    return 0


def main() -> None:
    tool = Path(sys.argv[0]).name
    args = sys.argv[1:]
    _record(tool, args)
    handler = {"aws": aws, "systemctl": systemctl, "runuser": runuser, "useradd": useradd, "logger": logger,
               "mount": mount, "dnf": lambda a: 0, "chown": lambda a: 0}[tool]
    sys.stdout.flush()
    sys.exit(handler(args))


def install(bin_dir: Path, python: str) -> None:
    """Write the stand-ins into ``bin_dir`` (put it first on PATH) and link ``python<X.Y>`` to this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve().parent
    for tool in ("aws", "systemctl", "dnf", "useradd", "runuser", "logger", "mount", "chown"):
        path = bin_dir / tool
        path.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(here)!r})\n"
                        f"from standins import main\nmain()\n")
        path.chmod(0o755)
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    (bin_dir / f"python{python}").symlink_to(base)
