"""The kernels stay pure: importing them pulls in no I/O libraries."""
import subprocess
import sys


def test_kernels_import_only_numpy_and_numba():
    code = ("import sys, temu_gen.kernels; bad = {'pyarrow', 'boto3', 'botocore', 'psutil', 'jsonschema', 'tqdm'} "
            "& set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
