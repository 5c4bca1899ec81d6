"""The staff dashboard: the line's bookings, messages, live calls and figures, in a browser (docs/dashboard.md).

:func:`bot.dashboard.app.install_dashboard` adds it to the server's app: the pages under
``/dashboard`` (:mod:`bot.dashboard.routes`), their static files (a vendored
Chart.js, the stylesheet and script), and what a request without a login gets.
"""
