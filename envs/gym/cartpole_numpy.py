"""gymnasium's CartPole on arrays, for ``vector_mode: numpy`` (envs/gym/numpy_vector.py): env
``i`` draws what ``CartPoleEnv.reset`` draws (4 uniforms in [-0.05, 0.05)) and a step evaluates
``CartPoleEnv.step``'s float64 expressions in the same order."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.gym.array_physics import ArrayPhysics


class CartPolePhysics(ArrayPhysics):
    ENV = "CartPoleEnv"
    KWARGS = ("sutton_barto_reward", "max_episode_steps")
    DIM = 4

    def __init__(self, env: gym.Env, n: int):
        super().__init__(env, n)
        base = env.unwrapped
        self.sutton_barto = bool(base._sutton_barto_reward)
        for key in ("gravity", "masspole", "total_mass", "length", "polemass_length"):
            setattr(self, key, float(getattr(base, key)))
        self.force_mag, self.tau = float(base.force_mag), float(base.tau)
        self.x_threshold = float(base.x_threshold)
        self.theta_threshold = float(base.theta_threshold_radians)

    @classmethod
    def problem(cls, base: gym.Env) -> str | None:
        if not hasattr(base, "kinematics_integrator"):
            return "this CartPole has no kinematics_integrator: not gymnasium's"
        if base.kinematics_integrator != "euler":
            return "only CartPole's euler integrator is implemented"
        return None

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(low=-0.05, high=0.05, size=(4,))

    def step(self, ids: np.ndarray | slice, actions: np.ndarray):
        x, x_dot, theta, theta_dot = self.state[ids].T
        force = np.where(np.asarray(actions) == 1, self.force_mag, -self.force_mag)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        state = np.stack((x, x_dot, theta, theta_dot), axis=1)
        self.state[ids] = state
        terminated = (
            (x < -self.x_threshold)
            | (x > self.x_threshold)
            | (theta < -self.theta_threshold)
            | (theta > self.theta_threshold)
        )
        if self.sutton_barto:
            rewards = np.where(terminated, -1.0, 0.0)
        else:
            rewards = np.ones(len(x))
        return state.astype(np.float32), rewards, terminated, self.truncated(ids, len(x))

    def obs(self, ids) -> np.ndarray:
        return self.state[ids].astype(np.float32)
