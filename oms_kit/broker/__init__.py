"""Brokers and their models: the Broker protocol, the simulated MockBroker, fill models and fee models.

Fee models live in :mod:`oms_kit.broker.fees` (and NSE's dated charges in :mod:`oms_kit.broker.charges`); they are
exported here for convenience.
"""

from __future__ import annotations

from oms_kit.broker.charges import NseFees
from oms_kit.broker.fees import FEE_CONTEXT, FEE_MODELS, FeeModel, IndiaEquityFees, NoFees, fee_keywords, fee_model

__all__ = ["FEE_CONTEXT", "FEE_MODELS", "FeeModel", "IndiaEquityFees", "NoFees", "NseFees", "fee_keywords", "fee_model"]
