"""Feature views, grouped by entity and freshness."""

from datetime import timedelta

from data_sources import (
    pond_stats_1h_source,
    pond_stats_15m_source,
    sensor_features_push,
    water_readings_push,
)
from entities import OWNER, pond, sensor, site
from feast import FeatureView, Field
from feast.types import Float64, Int64, String

from transforms.catalog import FEATURES

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



def _family_fields(family: str) -> list[Field]:
    return [
        Field(name=spec.name, dtype=Float64, description=f"{spec.description} Unit: {spec.unit}.")
        for spec in FEATURES
        if spec.family == family
    ]


def _sensor_family_view(family: str, description: str) -> FeatureView:
    return FeatureView(
        name=f"sensor_{family}_features",
        entities=[sensor],
        ttl=READINGS_TTL,
        schema=_family_fields(family),
        source=sensor_features_push,
        online=True,
        description=description + " Formulas and sources: docs/FEATURES.md.",
        owner=OWNER,
        tags={"family": family, "freshness": "stream"},
    )


# One view per family, all over the same table and push source, so a service can pick families.
sensor_time_features_fv = _sensor_family_view("time", "Calendar and time-of-day encodings of the reading time.")
sensor_rolling_features_fv = _sensor_family_view(
    "rolling", "Trailing-window statistics per parameter over 15 min, 1 h, 6 h and 24 h."
)
sensor_trend_features_fv = _sensor_family_view("trend", "Differences, rates of change, slopes and EWMAs.")
sensor_lag_features_fv = _sensor_family_view("lag", "Previous readings and values at fixed offsets back.")
sensor_domain_features_fv = _sensor_family_view(
    "domain", "Oxygen saturation, un-ionised ammonia and cross-parameter interactions."
)
sensor_anomaly_features_fv = _sensor_family_view(
    "anomaly", "z-scores, robust z-scores, spike, flat-line and out-of-range flags."
)
sensor_health_features_fv = _sensor_family_view(
    "health", "Water-quality health score (0-100) and its per-parameter sub-scores."
)

SENSOR_FEATURE_VIEWS = [
    sensor_time_features_fv,
    sensor_rolling_features_fv,
    sensor_trend_features_fv,
    sensor_lag_features_fv,
    sensor_domain_features_fv,
    sensor_anomaly_features_fv,
    sensor_health_features_fv,
]
