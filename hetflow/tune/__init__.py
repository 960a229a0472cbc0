"""``hetflow tune``: measure each model step's candidate offers on real samples.

It runs every candidate of every model step on the samples (upstream steps on their
reference offer, served from the cache after the first time), scores each answer
against the sample's ``expect`` or the reference's answer, prunes candidates that are
clearly worse as evidence comes in, and writes QUALITY.json for ``hetflow compile
--quality`` (docs/quality.md).
"""
