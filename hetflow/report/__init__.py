"""``hetflow report``: a plan, a traced run and a simulation as one self-contained HTML page
(:func:`hetflow.report.build.build_report`)."""
