"""Shared helpers of the PyTorch peer scripts (train_peers.py, lm_peers.py)."""
import json
import sys


def import_torch():
    """torch, or a JSON error on stdout and exit code 3 (the JS caller skips with a message)."""
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        print(json.dumps({"error": f"torch not importable: {e}"}))
        sys.exit(3)
    return torch


def blas_library():
    """Which BLAS shared object torch's matmuls go to (Debian: libblas.so.3 alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
        return sorted(libs)[0] if libs else "unknown"
    except OSError:
        return "unknown"
