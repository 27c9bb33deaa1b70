"""Training schedule and post-hoc calibration: the monitored validation metric, early stopping, LR decay on
plateau (monitor.py) and temperature / Platt scaling of the logits (calibration.py)."""
