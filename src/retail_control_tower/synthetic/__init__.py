"""Synthetic retailer: a deterministic simulation with a latent churn process and its oracle."""

from retail_control_tower.synthetic.simulation import simulate_retailer

__all__ = ["simulate_retailer"]
