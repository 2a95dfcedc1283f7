"""The one compiled part of the Python package, which pyproject.toml cannot declare without an experimental table.

``spoca4staff._kernels`` is the SPoCA programs' Rice decoder (``SPoCA/lib/core/rice_decoder.hpp``) for the image
statistics (``spoca4staff/rice_image.py``); ``make venv`` builds it with ``pip install --editable .``.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "spoca4staff._kernels",
            sources=["spoca4staff/_kernels.cpp"],
            include_dirs=["SPoCA/lib"],
            depends=["SPoCA/lib/core/rice_decoder.hpp"],
            extra_compile_args=["-std=c++17", "-O3", "-Wall", "-Wextra"],
            language="c++",
        ),
    ],
)
