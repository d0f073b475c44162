"""oms_kit: a Jupyter-first order management, risk and paper-trading kit."""
