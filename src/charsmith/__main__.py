"""``python -m charsmith`` runs the command-line interface.

Under torchrun a process leaves at once when the command is done (its process group already
left, its output flushed): an ordinary interpreter exit runs the C++ destructors of gloo's
threads, which now and then abort a process that finished its work ("terminate called
without an active exception"), and torchrun then reports the whole run as failed.
"""

import os
import sys

from charsmith.cli import main
from charsmith.engines import launched_by_torchrun

code = main()
if launched_by_torchrun():
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
