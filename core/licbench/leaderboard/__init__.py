"""The read side (the leaderboard): stored results as tables, renderings, plots, a site and
bundles.

Nothing here imports the run side (plan, prepare, run, work).
"""
