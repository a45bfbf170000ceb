"""``twinlens demo``: the whole system live on loopback, in one command (``make run``).

Pieces: :mod:`.shop` (a small SPA shop with the RUM SDK and a drifting API),
:mod:`.traffic` (real headless Chromium sessions, or realistic beacons without Chromium),
:mod:`.summary` (the live terminal summary) and :mod:`.run` (starting and stopping it all).
"""
