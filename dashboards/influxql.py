"""InfluxQL queries for Grafana panels and annotations.

grafana-foundation-sdk has no InfluxDB query type, so this module adds one: a raw
InfluxQL query as Grafana's InfluxDB data source stores it
(`{"refId", "query", "rawQuery": true, "resultFormat"}`), with a builder that plugs
into the SDK's panels like its own query builders do.

Every dashboard reads the series of docs/contract.md §5 through these queries, and the
integration test runs each one against a real InfluxDB.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

ResultFormat = Literal["time_series", "table"]
DATASOURCE_TYPE = "influxdb"


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel."""

    def __init__(
        self,
        *,
        ref_id: str = "A",
        query: str = "",
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
        datasource: model.DataSourceRef | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        datasource = data.get("datasource")
        return cls(
            ref_id=str(data.get("refId", "A")),
            query=str(data.get("query", "")),
            result_format="table" if data.get("resultFormat") == "table" else "time_series",
            alias=data.get("alias"),
            datasource=model.DataSourceRef.from_json(datasource) if datasource else None,
        )


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder of a raw InfluxQL target: `InfluxQL(query).ref_id("B").table()`."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        """Rows as they come (for tables, maps and stat panels keyed by tag)."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> Self:
        """Series name; `$tag_site/$tag_sensor` names a reading by its alarm key prefix."""
        self._internal.alias = alias
        return self

    def datasource(self, datasource: model.DataSourceRef) -> Self:
        self._internal.datasource = datasource
        return self


def register() -> None:
    """Let the SDK read InfluxDB targets back from dashboard JSON (`from_json`)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(
            identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json
        )
    )


class InfluxAnnotation(model.AnnotationQuery):
    """An annotation drawn from an InfluxQL query (alarm events over the trends).

    The query goes in `target`, where Grafana's InfluxDB data source keeps it since
    Grafana 9; the same fields at the top level let older Grafanas migrate it.
    """

    def __init__(
        self,
        *,
        name: str,
        query: str,
        datasource: model.DataSourceRef,
        icon_color: str,
        text_column: str,
        tags_columns: list[str],
    ) -> None:
        super().__init__(name=name, datasource=datasource, enable=True, icon_color=icon_color)
        self.query = query
        self.text_column = text_column
        self.tags_columns = tags_columns

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        columns = {
            "query": self.query,
            "textColumn": self.text_column,
            "tagsColumn": ",".join(self.tags_columns),
        }
        payload.update(columns)
        payload["target"] = {
            "refId": "Anno",
            "rawQuery": True,
            "resultFormat": "table",
            "fromAnnotations": True,
            **columns,
        }
        return payload


class Annotation(cogbuilder.Builder[model.AnnotationQuery]):
    """Builder of an InfluxQL annotation, for `Dashboard.annotation(...)`."""

    def __init__(self, annotation: InfluxAnnotation) -> None:
        self._internal = annotation

    def build(self) -> model.AnnotationQuery:
        return self._internal
