"""The kernels stay pure: importing them pulls in no I/O libraries."""
import subprocess
import sys


def test_kernels_import_only_numpy_and_numba():
    code = ("import sys, temu_gen.kernels; bad = {'pyarrow', 'boto3', 'botocore', 'psutil', 'jsonschema', 'tqdm'} "
            "& set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_coordinator_imports_no_simulation():
    """The CLI, the scheduler and both engines' coordinator side load without numba: a run on a Dask scheduler
    never compiles or loads a kernel in the coordinator; the pool imports the simulation just before it forks."""
    code = ("import sys, temu_gen.cli, temu_gen.run, temu_gen.dask_engine, temu_gen.engines; "
            "print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('temu_gen.generate')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_run_needs_no_pandas(tmp_path):
    """pandas is a test extra, not a dependency: every writer (events, defects, context, dimension tables) runs without."""
    code = ("import runpy, sys\n"
            "from temu_gen.cli import _NoPandas\n"  # the finder the CLI uses briefly, here for the whole run
            "sys.meta_path.insert(0, _NoPandas())\n"
            "sys.argv = ['temu-gen', '--events', '30000', '--chunk-size', '10000', '--defects', 'hostile', '--context', "
            f"'--workers', '1', '--no-progress', '--output', {str(tmp_path)!r}]\n"
            "runpy.run_module('temu_gen', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob("events/run_id=*/_SUCCESS"))
