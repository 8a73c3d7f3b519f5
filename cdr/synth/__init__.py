"""Synthetic interview cohorts: real faces and voices animated with known, planted truth.

Everything this subpackage writes is SYNTHETIC and labelled so: re-renderings
of real public photographs and synthesised or public-domain speech, never
recordings of patients.
"""
