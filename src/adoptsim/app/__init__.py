"""``adoptsim app``: the web explorer (Solara; ``pip install 'adoptsim[app]'``).

* :mod:`adoptsim.app.session` — what the page does, without the page: scenarios it may open,
  levers of a scenario, a variant file with the levers applied, a run (through
  ``workflows.run.run_scenario``) against the cached baseline, the headline, the downloads;
* :mod:`adoptsim.app.page` — the Solara page (``Page``);
* :mod:`adoptsim.app.server` — ``serve(host, port)``: the page on a local web server.

Layers: ``cli -> app -> workflows`` (the app calls the workflows; it duplicates none).
"""
