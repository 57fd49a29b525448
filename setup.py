"""Builds the one compiled part: the vendored tinysoundfont renderer (see vendor/tinysoundfont/README.md).

Everything else is declared in pyproject.toml. The flags follow upstream's CMake Release build (-O3,
C++14, hidden visibility) so renders match the PyPI wheel's. On Windows the extension is optional: with
no compiler there, the PyPI tinysoundfont (wheels for it and pyaudio exist on Windows) renders instead.
"""

import sys

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

windows = sys.platform == "win32"
renderer = Pybind11Extension(
    "narrascore._vendor.tinysoundfont._tinysoundfont",
    ["vendor/tinysoundfont/main.cpp"],
    include_dirs=["vendor/tinysoundfont"],
    depends=["vendor/tinysoundfont/tsf/tsf.h", "vendor/tinysoundfont/tsf/tml.h", "vendor/tinysoundfont/stb/stb_vorbis.c"],
    cxx_std=14,
    extra_compile_args=[] if windows else ["-O3", "-g0"],
    optional=windows,
)
setup(ext_modules=[renderer])
