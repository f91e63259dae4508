"""The ``gym`` env family: any gymnasium id, plus rldojo's probe envs (``rldojo/Probe-v0``)."""

from envs.gym.probes import register

register()
