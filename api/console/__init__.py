"""The service advisor's web console: server-rendered pages (Jinja2) on the same API, with a little
JavaScript for the live queue (the SSE stream), actions (the JSON API) and charts (uPlot, shipped
in static/vendor; nothing is fetched from the network at run time)."""
