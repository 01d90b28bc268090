"""Imported first by ``cronguard.local``: without the ``simulate`` extra, importing the engine
raises ``cronguard.extras.MissingExtra`` naming what to install, not moto's ImportError."""

from cronguard.extras import SIMULATE, require

require(SIMULATE)
