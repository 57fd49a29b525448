"""Builds the one compiled part: the vendored tinysoundfont renderer (see vendor/tinysoundfont/README.md).

Everything else is declared in pyproject.toml. The flags follow upstream's CMake Release build (-O3,
C++14, hidden visibility) so renders match the PyPI wheel's. On Windows with Python < 3.13 the extension
is optional: with no compiler there, PyPI's tinysoundfont renders instead (pyproject.toml declares it
there, where it and pyaudio have wheels). Everywhere else a failed build fails the install, loudly.
"""

import sys

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

windows = sys.platform == "win32"
fallback = windows and sys.version_info < (3, 13)  # must match the marker in pyproject.toml
renderer = Pybind11Extension(
    "narrascore._vendor.tinysoundfont._tinysoundfont",
    ["vendor/tinysoundfont/main.cpp"],
    include_dirs=["vendor/tinysoundfont"],
    depends=["vendor/tinysoundfont/tsf/tsf.h", "vendor/tinysoundfont/tsf/tml.h", "vendor/tinysoundfont/stb/stb_vorbis.c"],
    cxx_std=14,
    extra_compile_args=[] if windows else ["-O3", "-g0"],
    optional=fallback,
)
setup(ext_modules=[renderer])
