"""Brokers and their models: the Broker protocol, the simulated MockBroker, fill models and fee models.

Fee models live in :mod:`oms_kit.broker.fees`; they are exported here for convenience.
"""

from __future__ import annotations

from oms_kit.broker.fees import FEE_MODELS, FeeModel, IndiaEquityFees, NoFees, fee_model

__all__ = ["FEE_MODELS", "FeeModel", "IndiaEquityFees", "NoFees", "fee_model"]
