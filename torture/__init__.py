"""Reliability campaigns: kill, faults, changes, bad input, concurrency and secrets.

Each campaign module has ``run(scale, workdir, seed) -> CampaignResult``; ``scale`` is ``"short"``
(what ``scripts/test`` runs, seconds each) or ``"long"`` (what ``scripts/torture`` runs). They drive
the real ``odoosync`` against the simulator and count what matters to a user of a sync tool:
records lost, duplicated or differing, and secrets leaked. Every figure must be 0.
"""
