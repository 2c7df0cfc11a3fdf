"""Grafana dashboards as code for hazmon's duty officers and operators.

`provisioning.render(registry)` draws the four dashboards (overview, site, alarm
history, platform health) with grafana-foundation-sdk, plus the InfluxDB data source
and the dashboard provider, as the files of `dashboards/provisioning/`;
`push.push()` uploads the dashboards to an existing Grafana. The InfluxQL behind the
panels is in `queries`, the colours and threshold steps in `palette`. See
docs/dashboards.md.
"""
