"""How big each step will be: token sizes, complexity analysis (derived needs), calibration from traces."""
