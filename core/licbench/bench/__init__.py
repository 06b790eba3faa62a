"""The benchmark pipeline: manifest -> prepare -> runner -> store -> leaderboard."""
