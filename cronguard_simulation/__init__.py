"""The local simulation: the synthesized state machines running on the local engine
(``cronguard_simulation.engine``), with the real Lambda handlers in-process.

It is the package's optional ``simulate`` extra (``pip install 'cronguard[simulate]'``):
importing any of it without the extra raises ``cronguard.extras.MissingExtra`` naming what
to install, not moto's ImportError.
"""

from cronguard.extras import SIMULATE, require

require(SIMULATE)
