"""The ``atari`` env family: ALE games with the DeepMind preprocessing (see env.py)."""
