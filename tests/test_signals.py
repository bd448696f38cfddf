"""Clean shutdown on every signal: one line, the documented exit code, nothing committed, nothing left running.

SIGTERM (what systemd sends on stop) and SIGHUP unwind the coordinator like Ctrl-C; a
signal to the whole process group (a terminal's Ctrl-C, systemd's control-group stop)
does too. However the coordinator ends, kill -9 included, its workers and uploader die
with it and nothing writes into the run folder or the spool afterwards.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from outcomes import not_committed_local
from procs import UPLOADER, WORKER, cli, named, one_line, snapshot, start, start_run, survivors, tree, wait_until
from s3_servers import FaultyProxy
from temu_gen.sinks.base import Holder

EVENTS, CHUNK = 1_200_000, 50_000  # 24 parts: seconds of work left when the first part lands


def _start_local(tmp_path):
    return start_run(tmp_path, EVENTS, CHUNK)


@pytest.mark.parametrize("sig,group,code,cause", [
    (signal.SIGTERM, False, 143, "terminated by SIGTERM"),
    (signal.SIGHUP, False, 129, "terminated by SIGHUP"),
    (signal.SIGTERM, True, 143, "terminated by SIGTERM"),  # systemd's stop: every process of the unit
    (signal.SIGINT, True, 130, "interrupted"),  # a terminal's Ctrl-C
], ids=["SIGTERM", "SIGHUP", "SIGTERM-group", "Ctrl-C-group"])
def test_a_signal_stops_a_local_run_cleanly(tmp_path, sig, group, code, cause):
    proc, run_dir, children = _start_local(tmp_path)
    os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    line = one_line(err)
    assert line.startswith(f"temu-gen: error: run s failed ({cause}); chunks delivered: 0")
    assert line.endswith(f" of {EVENTS // CHUNK}; not committed (no _SUCCESS); resume with --resume s")
    assert survivors(children) == []
    left = not_committed_local(run_dir)
    assert "_lock" not in left and not [n for n in left if n.startswith(".")]  # lock released, temp files removed
    before = snapshot(run_dir)
    time.sleep(1.0)
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("gap", [0.002, 0.01])
def test_a_second_ctrl_c_does_not_cut_the_clean_up_short(tmp_path, gap):
    """An impatient second Ctrl-C used to land in the clean-up of the first: the lock, temp files and the spool
    stayed, and the next run needed --force-unlock."""
    spool = tmp_path / "spool"
    proc, run_dir, children = start_run(tmp_path / "out", EVENTS, CHUNK, "--spool-dir", str(spool))
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(gap)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert one_line(err).startswith("temu-gen: error: run s failed (interrupted); chunks delivered: 0")
    assert survivors(children) == []
    left = not_committed_local(run_dir)
    assert "_lock" not in left and not [n for n in left if n.startswith(".")]
    assert not list(spool.iterdir())


def test_a_signal_inside_code_that_swallows_exceptions_is_not_lost():
    """pyarrow's pandas probe is Cython that drops an exception raised in it: a SIGTERM that arrived there was
    lost, and the run went on to commit (exit 0). The probe now runs with the signals held, then delivered."""
    script = textwrap.dedent("""
        import os, signal, sys
        import pyarrow as pa
        from temu_gen import cli
        from temu_gen.errors import Terminated
        from temu_gen.lifeline import install_termination_handlers

        def probe_that_swallows(value):
            try:  # the handler runs in here, and its exception is dropped
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(100_000):
                    pass
            except BaseException:
                pass

        install_termination_handlers()
        pa.scalar = probe_that_swallows
        try:
            cli._spare_arrow_pandas()
        except Terminated:
            sys.exit(143)
        sys.exit(0)
    """)
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 143


def test_kill_9_of_the_coordinator_takes_its_workers_with_it(tmp_path):
    proc, run_dir, children = _start_local(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert survivors(children, timeout=3.0) == []  # PR_SET_PDEATHSIG: the kernel kills them with their parent
    before = snapshot(run_dir)
    time.sleep(1.0)
    assert snapshot(run_dir) == before  # nothing writes into the run folder any more
    assert "_lock" in not_committed_local(run_dir)  # a stale lock: --resume says so and how to clear it


def test_the_next_run_frees_the_scratch_of_a_coordinator_killed_outright(tmp_path):
    """kill -9 leaves the spool (hundreds of MB per million events): the next run on the spool root removes it,
    and only it: a live run's scratch, another host's and folders it did not make stay."""
    spool = tmp_path / "spool"
    proc, _, children = start_run(tmp_path / "out", EVENTS, CHUNK, "--spool-dir", str(spool))
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert survivors(children, timeout=3.0) == []
    (killed,) = [p for p in spool.iterdir()]
    assert (killed / "map").is_dir()
    live, elsewhere, foreign, contained = spool / "live", spool / "elsewhere", spool / "foreign", spool / "contained"
    for folder in (live, elsewhere, foreign, contained):
        folder.mkdir()
        (folder / "data").write_bytes(b"x")
    me = Holder.me()
    (live / ".holder").write_bytes(me.to_bytes())
    (elsewhere / ".holder").write_bytes(dataclasses.replace(me, host="another-host", pid=proc.pid).to_bytes())
    (foreign / ".holder").write_text("not ours")
    # another container with this host name: its pids are its own, so a dead pid here says nothing
    (contained / ".holder").write_bytes(dataclasses.replace(me, pid=proc.pid, pid_namespace="1").to_bytes())
    done = cli("--events", "2000", "--workers", "1", "--run-id", "next", "--output", str(tmp_path / "out"),
               "--spool-dir", str(spool))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in spool.iterdir()) == ["contained", "elsewhere", "foreign", "live"]


def test_sigterm_aborts_open_uploads_and_tidies_the_spool(moto_server, bucket, tmp_path):
    """Parts are held 2 s at the proxy, so the first file's multipart upload is open when SIGTERM arrives."""
    proxy = FaultyProxy(moto_server.port, p503=0, p500=0, pdrop=0,
                        hold=lambda method, path: 2.0 if method == "PUT" and "partNumber=" in path else 0)
    s3 = moto_server.client()
    spool = tmp_path / "spool"
    try:
        proc = start("--events", "900000", "--chunk-size", "300000", "--seed", "5", "--run-id", "t", "--workers", "2",
                     "--part-size", "5MiB", "--output", f"s3://{bucket}/p", "--spool-dir", str(spool),
                     endpoint=proxy.endpoint)
        wait_until(lambda: s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), proc, what="an upload opened")
        children = tree(proc.pid)
        assert named(children, UPLOADER) and named(children, WORKER)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proxy.stop()
    assert proc.returncode == 143, err
    assert one_line(err) == ("temu-gen: error: run t failed (terminated by SIGTERM); chunks delivered: none of 3; not "
                             "committed (no _SUCCESS); aborted 1 open multipart upload(s); resume with --resume t")
    assert survivors(children) == []
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    keys = lambda: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))  # noqa: E731
    assert keys() == ["p/events/run_id=t/_run.json"]  # no part, no _SUCCESS, no lock
    assert not (spool / "t").exists()  # a failed run removes its spool files
    time.sleep(1.0)
    assert keys() == ["p/events/run_id=t/_run.json"] and not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_held_signals_give_way_to_the_third():
    """The clean-up after a failure holds signals, so a second Ctrl-C cannot cut it short; if it hangs (a stuck
    mount, a lost scheduler), the third acts at once."""
    from temu_gen.errors import Terminated
    from temu_gen.lifeline import deferred_signals

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with deferred_signals(patience=2) as gate:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, and holds it
            assert gate.pending == [signal.SIGTERM]
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            pytest.fail("the second held signal did not act")
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_worker_takes_the_workers_signal_handling_the_moment_it_is_forked():
    """A signal to the process group while workers start (a LocalCluster of many workers takes seconds) met the
    coordinator's handlers in them: each raised Terminated and printed a traceback. The fork itself now gives a
    worker its own handling, before any of its start-up runs."""
    script = textwrap.dedent("""
        import os, signal, sys
        from temu_gen import lifeline
        from temu_gen.lifeline import children_die_with_me, install_termination_handlers

        install_termination_handlers()
        children_die_with_me(True)
        pid = os.fork()  # what a pool's or a LocalCluster's Process.start() does, from any thread
        if pid == 0:  # the child: nothing of its own has run yet
            ok = (signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and signal.getsignal(signal.SIGHUP) ==
                  signal.SIG_DFL and signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        children_die_with_me(False)
        assert signal.getsignal(signal.SIGTERM) is lifeline._stop  # the coordinator keeps its own
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 0


def test_a_second_stop_signal_is_held_until_the_clean_up_holds_its_own():
    """The first Ctrl-C unwinds; a second, however soon, is held (it once landed in the few bytecodes before the
    clean-up's own hold and escaped as a bare 'interrupted', the clean-up skipped); a third acts, also in the
    clean-up, which counts the one already held."""
    script = textwrap.dedent("""
        import os, signal
        from temu_gen import lifeline
        lifeline.install_termination_handlers()
        seen = []
        for _ in range(3):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(1000))  # Python runs the handler between bytecodes
                seen.append("held")
            except KeyboardInterrupt:
                seen.append("raised")
        assert seen == ["raised", "held", "raised"], seen
        lifeline.install_termination_handlers()
        for expected in ("raised", "held"):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(1000))
                assert expected == "held"
            except KeyboardInterrupt:
                assert expected == "raised"
        try:
            with lifeline.deferred_signals(patience=2) as gate:
                assert gate.pending == [signal.SIGINT]
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(1000))
            raise SystemExit("the third signal was held by the clean-up")
        except KeyboardInterrupt:
            pass
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

