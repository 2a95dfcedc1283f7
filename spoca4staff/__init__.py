"""The library behind the pipeline's five entry modules.

The original spoca4staff is five modules, kept at the top of the repository with their names and command
lines: ``sdo_data.py``, ``job.py``, ``staff_jobs.py``, ``get_staff_stats.py`` and ``get_image_stats.py``.
What they share lives here, one concept per module: the configuration (``configuration``); running time
steps: the command line (``command_line``), the time window (``time_window``), the lock and signals
(``run_lock``), the jobs and their retries (``job_runner``) and the scripts' entry point (``entry_point``);
the files: FITS headers and checksums read without astropy (``fits_hdus``), the AIA file record
(``aia_file``), the Rice decoder's pixels (``rice_image``) and their errors (``exceptions``); the job ledger
(``ledger``), remote archives (``remote_archive``), atomic writes (``atomic_file``), the overlay pictures
(``overlay``), and runs on Dask (``backfill``, ``worker_tasks``).
The tools of ``scripts/`` import from here and from the entry modules, never the reverse.
"""

import os

#: One OpenBLAS thread unless the environment says otherwise. The pipeline runs its images and programs in
#: parallel itself, and numpy needs no BLAS here: OpenBLAS's own threads would only spin on the same cores (about
#: 0.1 cpu-s each time they wake, at start-up included). OpenBLAS reads this when numpy loads, so the entry
#: modules import this package before numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
