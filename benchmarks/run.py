"""Run cgru's benchmark suite (cgru vs PyTorch vs onnxruntime, one thread each).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py \
        --json benchmarks/results/latest.json

Same options as ``cgru bench`` / ``python -m cgru._bench`` (``--help``).
"""
import sys

from cgru._bench import main

if __name__ == "__main__":
    sys.exit(main())
