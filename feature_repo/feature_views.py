"""Feature views, grouped by entity and freshness."""

from datetime import timedelta

from data_sources import pond_stats_1h_source, pond_stats_15m_source, water_readings_push
from entities import OWNER, pond, sensor, site
from feast import FeatureView, Field
from feast.types import Float64, Int64, String

# Readings come about once a minute. A sensor silent for an hour is treated as offline, so its
# last value is no longer served as current (and point-in-time joins ignore it).
READINGS_TTL = timedelta(hours=1)

READING_FIELDS = [
    Field(name="site_id", dtype=String, description="Site of the sensor."),
    Field(name="pond_id", dtype=String, description="Pond of the sensor, unique within its site."),
    Field(name="water_temp_c", dtype=Float64, description="Water temperature, °C."),
    Field(name="ph", dtype=Float64, description="pH (dimensionless, 0-14)."),
    Field(name="turbidity_ntu", dtype=Float64, description="Turbidity, NTU."),
    Field(name="dissolved_oxygen_mg_l", dtype=Float64, description="Dissolved oxygen, mg/L."),
    Field(name="ammonia_mg_l", dtype=Float64, description="Total ammonia nitrogen, mg/L."),
    Field(name="nitrate_mg_l", dtype=Float64, description="Nitrate, mg/L."),
]

sensor_readings_fv = FeatureView(
    name="sensor_readings",
    entities=[sensor],
    ttl=READINGS_TTL,
    schema=READING_FIELDS,
    source=water_readings_push,
    online=True,
    description="Latest validated reading of each sensor, in the units of its column names.",
    owner=OWNER,
    tags={"family": "raw", "freshness": "stream"},
)


STATISTIC_UNITS = {
    "water_temp_c": "°C",
    "ph": "pH",
    "turbidity_ntu": "NTU",
    "dissolved_oxygen_mg_l": "mg/L",
    "ammonia_mg_l": "mg/L",
    "nitrate_mg_l": "mg/L",
}


def _pond_stat_fields(window: str) -> list[Field]:
    fields = [Field(name="reading_count", dtype=Int64, description=f"Logger records of the pond in the {window} bucket.")]
    for parameter, unit in STATISTIC_UNITS.items():
        for statistic in ("mean", "min", "max", "stddev"):
            fields.append(
                Field(
                    name=f"{parameter}_{statistic}",
                    dtype=Float64,
                    description=f"{statistic} of {parameter} over the pond's sensors in the {window} bucket, {unit}.",
                )
            )
    return fields


# A bucket becomes visible when it closes; one bucket of slack covers a late refresh.
pond_stats_15m_fv = FeatureView(
    name="pond_stats_15m",
    entities=[site, pond],
    ttl=timedelta(minutes=30),
    schema=_pond_stat_fields("15-minute"),
    source=pond_stats_15m_source,
    online=True,
    description="Per-pond water-quality statistics over the last closed 15-minute bucket.",
    owner=OWNER,
    tags={"family": "aggregate", "freshness": "15m"},
)

pond_stats_1h_fv = FeatureView(
    name="pond_stats_1h",
    entities=[site, pond],
    ttl=timedelta(hours=2),
    schema=_pond_stat_fields("1-hour"),
    source=pond_stats_1h_source,
    online=True,
    description="Per-pond water-quality statistics over the last closed 1-hour bucket.",
    owner=OWNER,
    tags={"family": "aggregate", "freshness": "1h"},
)
