"""The core's pages and API, one module per concern.

Every view hangs on one of the two blueprints of :mod:`core.views.blueprint`
(``core`` for pages, ``core_api`` for the JSON API); :mod:`core.builtin` imports these
modules, which registers their routes, and gives the blueprints to the app.

- :mod:`.shell`: what every page's layout shows (the menu, the user's clusters)
- :mod:`.auth`: sign-in and sign-out
- :mod:`.account`: the user's own account
- :mod:`.dashboard`: the home page, a cluster's dashboard and search
- :mod:`.jobs`: background jobs (list, progress, retry; the job API)
- :mod:`.audit`: the cluster's audit log
- :mod:`.admin`: a cluster's administration (modules, purge, roles, profile, logo)
- :mod:`.federation`: federation-wide administration (clusters, installed modules)
- :mod:`.platform`: health check, the OpenAPI document, the modules API
"""
